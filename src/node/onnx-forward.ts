// The frozen backbone on ONNX Runtime (onnxruntime-node, an optional peer
// dependency): the same weights as the tfjs model, exported in memory to ONNX
// and run by ORT's native CPU kernels on every core. Training stays on tfjs;
// only the forward passes that fill the embedding and prefix caches move here.
import { availableParallelism } from 'node:os';
import type * as OrtType from 'onnxruntime-node';
import { EDGETUNE_VERSION } from '../constants.js';
import { EdgetuneError } from '../errors.js';
import type { Backbone } from '../engine/model/backbone.js';
import type { BackboneForward, ForwardFactory } from '../engine/model/forward.js';
import { backboneNetwork, type Network } from '../engine/model/network.js';
import { writeOnnx } from '../engine/model/onnx/write.js';
import { onnxGemm } from './onnx-gemm.js';

let ortModule: Promise<typeof OrtType> | undefined;

/** onnxruntime-node, or MISSING_DEPENDENCY naming the install command. */
export function loadOnnxRuntime(): Promise<typeof OrtType> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: typeof OrtType }).default ?? m) as typeof OrtType,
    (err) => {
      ortModule = undefined;
      throw new EdgetuneError('MISSING_DEPENDENCY', "The onnxruntime backbone runtime needs the 'onnxruntime-node' package: npm install onnxruntime-node", { cause: err });
    },
  );
  return ortModule;
}

export interface OnnxForwardOptions {
  /** Threads for one forward pass (and one of the tail's products). @default os.availableParallelism() */
  threads?: number;
  /**
   * Whether the partial strategy's tail runs its matrix products on ONNX Runtime
   * too (about 2x faster training steps on a 2-core AVX-512 machine); false: on tfjs.
   * @default true
   */
  tailProducts?: boolean;
}

/** Up to and including the op that computes `cut`: the frozen prefix alone. */
function prefixOnly(net: Network, cut: string): Network {
  const end = net.ops.findIndex((op) => op.name === cut);
  if (end < 0) throw new EdgetuneError('MODEL_INCOMPATIBLE', `'${cut}' is not a value of the backbone's network`);
  return { ...net, ops: net.ops.slice(0, end + 1), output: cut };
}

/**
 * A forward factory for createEngine({ forward }): embeddings (and prefix
 * activations for the partial strategy) computed by ONNX Runtime.
 *
 * @throws EdgetuneError MISSING_DEPENDENCY when onnxruntime-node is not installed;
 *   MODEL_INCOMPATIBLE when the backbone has an op the ONNX writer does not know.
 */
export function onnxRuntimeForward(opts: OnnxForwardOptions = {}): ForwardFactory {
  return async (backbone: Backbone): Promise<BackboneForward> => {
    const ort = await loadOnnxRuntime();
    const network = backboneNetwork(backbone);
    const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
    const sessions = new Map<string, Promise<OrtType.InferenceSession>>();
    // One session per output set: features; features + prefix at a cut; the prefix alone.
    const session = (embedding: boolean, cut?: string) => {
      const key = `${embedding}|${cut ?? ''}`;
      let s = sessions.get(key);
      if (!s) {
        const bytes = writeOnnx({
          network: !embedding && cut ? prefixOnly(network, cut) : network,
          inputSize: backbone.manifest.inputSize,
          ...(cut ? { prefix: cut } : {}),
          features: embedding,
          metadata: { backbone: backbone.manifest.id },
          producerVersion: EDGETUNE_VERSION,
        });
        s = ort.InferenceSession.create(bytes, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
          // Busy-waiting threads steal the cores tfjs trains on between passes.
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        });
        sessions.set(key, s);
        s.catch(() => sessions.delete(key));
      }
      return s;
    };
    // Fail at creation, not at the first image: builds and loads the embedding session.
    await session(true);
    const gemm = opts.tailProducts === false ? null : onnxGemm(ort, threads);
    return {
      name: 'onnxruntime',
      ...(gemm ? { gemm } : {}),
      async run(x, want) {
        const s = await session(want.embedding, want.prefix);
        const input = new ort.Tensor('float32', (await x.data()) as Float32Array, x.shape);
        const out = await s.run({ input });
        return {
          ...(want.embedding ? { embedding: out.features!.data as Float32Array } : {}),
          ...(want.prefix ? { prefix: out.prefix!.data as Float32Array } : {}),
        };
      },
      dispose() {
        gemm?.dispose();
        for (const s of sessions.values()) void s.then((x) => x.release()).catch(() => undefined);
        sessions.clear();
      },
    };
  };
}
