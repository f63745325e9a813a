// Who runs the frozen backbone's forward pass. tfjs does by default (every
// platform); in Node, onnxruntime-node can (edgetune/node), several times faster
// on the same weights. Training and inference only need the numbers back.
import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from './backbone.js';

export interface ForwardResult {
  /** [n, embeddingSize], row-major. */
  embedding?: Float32Array;
  /** Activations at the requested cut node, [n, h, w, c] row-major. */
  prefix?: Float32Array;
}

/**
 * A synchronous float32 matrix product on the host, row-major: op(a) x op(b), where
 * op transposes when asked. Synchronous because it runs inside tfjs' gradient tape.
 */
export type HostGemm = (a: Float32Array, aShape: readonly [number, number], b: Float32Array, bShape: readonly [number, number], transA: boolean, transB: boolean) => Float32Array;

export interface BackboneForward {
  /** 'tfjs', or the runtime's name (reported by the CLI and the bench). */
  readonly name: string;
  /**
   * The runtime's matrix product, when it beats tfjs' own: the partial strategy's
   * trainable tail runs its 1x1 convolutions (forward and backward) on it.
   */
  readonly gemm?: HostGemm;
  /**
   * Runs normalized inputs [n, h, w, 3] (not disposed) through the frozen backbone:
   * the embeddings when `embedding`, the activations at `prefix` (a cut node) when given.
   */
  run(x: tf.Tensor4D, want: { embedding: boolean; prefix?: string }): Promise<ForwardResult>;
  dispose(): void;
}

/** Creates the forward pass for a loaded backbone (EngineOptions.forward). */
export type ForwardFactory = (backbone: Backbone) => Promise<BackboneForward>;

/** The backbone's own tfjs model on the current tfjs backend. */
export function tfjsForward(backbone: Backbone): BackboneForward {
  return {
    name: 'tfjs',
    async run(x, want) {
      const out = tf.tidy(() => {
        if (!want.prefix) return { embedding: backbone.embed(x) };
        if (!want.embedding) return { prefix: backbone.prefix(x, want.prefix) };
        return backbone.embedWithPrefix(x, want.prefix);
      });
      try {
        const [embedding, prefix] = await Promise.all([out.embedding?.data(), 'prefix' in out ? out.prefix?.data() : undefined]);
        return { ...(embedding ? { embedding: embedding as Float32Array } : {}), ...(prefix ? { prefix: prefix as Float32Array } : {}) };
      } finally {
        tf.dispose(Object.values(out));
      }
    },
    dispose() {},
  };
}
