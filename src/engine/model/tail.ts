// The trainable tail of a backbone, for the 'partial' strategy (its last blocks)
// and the 'full' one (everything from the input on).
//
// A tfjs GraphModel has no trainable variables, so the blocks are rebuilt as
// tfjs ops initialized from the graph's own (BatchNorm-folded) weights. The ops
// have gradients on every backend: 1x1 convolutions run as matMul (one product
// per layer, forward and backward), depthwise ones as tf.depthwiseConv2d and the
// stem as tf.conv2d, whose weight-gradient kernels edgetune registers for WASM.
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { EdgetuneError } from '../../errors.js';
import type { Backbone } from './backbone.js';
import type { HostGemm } from './forward.js';
import type { WasmBackend } from '../kernels/wasm-backend.js';
import { registerWasmTrainingKernels, relu6 } from '../kernels/wasm-kernels.js';
import { planLayersTail } from './tail-layers.js';
import type { GraphNode } from './graph.js';
import type { Cut } from '../data/embed.js';
import { incompatible, planTail, type Act, type Padding, type TailDepth, type TailPlan } from './tail-plan.js';

/**
 * The rebuilt tail with its own trainable copy of the graph's weights.
 * `apply` maps prefix activations [n, h, w, c] to the backbone's feature vector.
 */
export class Tail {
  readonly variables: tf.Variable[];
  /** Indices of kernels in `variables` (weight decay applies to these, not to biases). */
  readonly kernelIdx: Set<number>;
  private readonly byNode: Map<string, tf.Variable>;
  /** Frozen constants (the graph's input normalization), owned copies. */
  private readonly consts: Map<string, tf.Tensor>;
  private mm = matMuls(tfjsProduct);

  private constructor(
    readonly plan: TailPlan,
    /** Bottleneck blocks unfrozen besides the final conv, or 'all'. */
    readonly blocks: TailDepth,
    weights: Map<string, tf.Tensor>,
  ) {
    registerWasmTrainingKernels();
    this.consts = new Map(plan.constNodes.map((n) => [n, tf.clone(weights.get(n)!)]));
    // A variable shares the graph's weight data until its first assign: no copy.
    this.byNode = new Map(plan.weightNodes.map((n) => [n, tf.variable(weights.get(n)!, true)]));
    this.variables = [...this.byNode.values()];
    this.kernelIdx = new Set(plan.weightNodes.flatMap((n, i) => (i % 2 === 0 ? [i] : [])));
  }

  /**
   * Runs the 1x1 convolutions' products (forward and backward) on a host runtime's
   * matrix product (BackboneForward.gemm); undefined: on tfjs. Same values up to
   * float32 rounding: the runtimes sum in different orders.
   */
  useGemm(gemm: HostGemm | undefined): void {
    this.mm = matMuls(gemm ? hostProduct(gemm) : tfjsProduct);
  }

  /** Shape [h, w, c] of one view's prefix activations (set by `fromBackbone`'s check). */
  prefixShape: [number, number, number] = [0, 0, 0];

  /** Bytes of the forward pass's tensors per image (measured by `fromBackbone`'s check): what a step holds for its backward pass. */
  forwardBytesPerImage = 0;

  /** Where the tail starts, as the embedder's caches and taps name it. */
  get cut(): Cut {
    return { node: this.plan.cutNode, input: this.plan.fromInput, shape: this.prefixShape };
  }

  /** Builds the tail of `backbone` (graph or layers) from its loaded weights, checked against the backbone's own output. */
  static async fromBackbone(backbone: Backbone, blocks: TailDepth): Promise<Tail> {
    if (backbone.manifest.format === 'layers') {
      const { plan, weights } = planLayersTail(backbone.model as LayersModel, backbone.manifest.featureNode, blocks, backbone.manifest.pooling === 'avg');
      const tail = new Tail(plan, blocks, weights);
      // The variables hold the folded values now.
      tf.dispose([...weights.values()]);
      return Tail.checked(tail, backbone);
    }
    const topo = backbone.artifacts.modelJson.modelTopology as { node: GraphNode[] };
    const shapes = new Map(backbone.artifacts.modelJson.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]));
    const plan = planTail(topo.node, backbone.manifest.featureNode, blocks, shapes, backbone.manifest.pooling === 'avg');
    const graphWeights = (backbone.model as GraphModel).weights;
    const weights = new Map<string, tf.Tensor>();
    for (const n of [...plan.weightNodes, ...plan.constNodes]) {
      const t = graphWeights[n]?.[0];
      if (!t) incompatible(`weight '${n}' is missing from the loaded graph`);
      weights.set(n, t);
    }
    return Tail.checked(new Tail(plan, blocks, weights), backbone);
  }

  private static async checked(tail: Tail, backbone: Backbone): Promise<Tail> {
    // A tail is rebuilt the same way from the same weights each time: one check per depth suffices.
    const known = checkedShapes.get(backbone)?.get(tail.blocks);
    if (known) {
      tail.prefixShape = [...known.shape];
      tail.forwardBytesPerImage = known.bytes;
      return tail;
    }
    try {
      await tail.check(backbone);
    } catch (err) {
      tail.dispose();
      throw err;
    }
    if (!checkedShapes.has(backbone)) checkedShapes.set(backbone, new Map());
    checkedShapes.get(backbone)!.set(tail.blocks, { shape: [...tail.prefixShape], bytes: tail.forwardBytesPerImage });
    return tail;
  }

  /**
   * Runs the graph and the rebuilt tail on the same random input: they must agree
   * (max abs difference 1e-3), else the rebuild misread the graph.
   */
  private async check(backbone: Backbone): Promise<void> {
    const [h, w] = backbone.manifest.inputSize;
    let shape: number[] = [];
    let bytes = 0;
    const d = tf.tidy(() => {
      const { mean, std } = backbone.manifest.normalization;
      const x = tf.div(tf.sub(tf.randomUniform([2, h, w, 3], 0, 1, 'float32', 7), mean), std) as tf.Tensor4D;
      const { prefix, embedding } = this.plan.fromInput ? { prefix: x, embedding: backbone.embed(x) } : backbone.embedWithPrefix(x, this.plan.cutNode);
      shape = prefix.shape.slice(1);
      const before = tf.memory().numBytes;
      const features = this.apply(prefix);
      // Two images; the tidy still holds every intermediate tensor.
      bytes = Math.ceil((tf.memory().numBytes - before) / 2);
      return tf.max(tf.abs(tf.sub(features, embedding)));
    });
    this.forwardBytesPerImage = bytes;
    const diff = (await d.data())[0]!;
    d.dispose();
    if (!(diff <= 1e-3)) incompatible(`the rebuilt tail differs from the graph by ${diff} (max abs) on a random input`);
    this.prefixShape = shape as [number, number, number];
  }

  /** Feature vectors [n, d] from prefix activations [n, h, w, c]. Call inside tf.tidy. */
  apply(prefix: tf.Tensor4D): tf.Tensor2D {
    const out = new Map<string, tf.Tensor>([[this.plan.cutNode, prefix]]);
    let last: tf.Tensor = prefix;
    for (const op of this.plan.ops) {
      const get = (n: string) => out.get(n)!;
      switch (op.kind) {
        case 'conv1x1':
          // The prefix is data, not a function of any weight: its gradient is never used.
          last = activate(
            conv1x1(this.mm, get(op.input) as tf.Tensor4D, this.byNode.get(op.kernel)!, this.byNode.get(op.bias)!, op.input === this.plan.cutNode),
            op.act,
          );
          break;
        case 'depthwise':
          last = activate(depthwise(get(op.input) as tf.Tensor4D, this.byNode.get(op.kernel)!, this.byNode.get(op.bias)!, op.stride, op.padding), op.act);
          break;
        case 'conv':
          // Unfused: tf.conv2d's gradient computes only what the tape needs (the stem's input is data).
          last = activate(tf.add(tf.conv2d(get(op.input) as tf.Tensor4D, this.byNode.get(op.kernel)! as tf.Tensor4D, op.stride, op.padding), this.byNode.get(op.bias)!), op.act);
          break;
        case 'affine': {
          const c = this.consts.get(op.constant)!;
          last = op.op === 'mul' ? tf.mul(get(op.input), c) : op.op === 'sub' ? tf.sub(get(op.input), c) : tf.add(get(op.input), c);
          break;
        }
        case 'pad':
          last = tf.pad(get(op.input), [[0, 0], ...op.pads, [0, 0]]);
          break;
        case 'add':
          last = tf.add(get(op.inputs[0]), get(op.inputs[1]));
          break;
        case 'meanpool':
          last = tf.mean(get(op.input), [1, 2]);
          break;
        case 'identity':
          last = get(op.input);
          break;
      }
      out.set(op.name, last);
    }
    return (last.rank === 2 ? last : tf.reshape(last, [last.shape[0]!, -1])) as tf.Tensor2D;
  }

  /** Current weights by graph node name (for export and for the merged model). */
  weights(): { name: string; tensor: tf.Tensor }[] {
    return [...this.byNode].map(([name, tensor]) => ({ name, tensor }));
  }

  /** Overwrites weights by node name (import); shapes must match. */
  load(weights: Map<string, tf.Tensor>): void {
    for (const [name, v] of this.byNode) {
      const w = weights.get(name);
      if (!w) throw new EdgetuneError('MODEL_LOAD_FAILED', `Tail weight '${name}' is missing from the model files`);
      if (w.shape.join() !== v.shape.join()) {
        throw new EdgetuneError('MODEL_INCOMPATIBLE', `Tail weight '${name}' has shape [${w.shape}], the backbone's is [${v.shape}]`);
      }
    }
    for (const [name, v] of this.byNode) v.assign(weights.get(name)!);
  }

  snapshot(): tf.Tensor[] {
    return this.variables.map((v) => tf.keep(v.clone()));
  }

  restore(weights: tf.Tensor[]): void {
    this.variables.forEach((v, i) => v.assign(weights[i]!));
  }

  dispose(): void {
    tf.dispose(this.variables);
    tf.dispose([...this.consts.values()]);
  }
}

/** Prefix shapes and forward bytes of the tails already checked against each backbone, by depth. */
const checkedShapes = new WeakMap<Backbone, Map<TailDepth, { shape: [number, number, number]; bytes: number }>>();

function activate(x: tf.Tensor, act: Act): tf.Tensor {
  return act === 'relu6' ? relu6(x) : act === 'relu' ? tf.relu(x) : x;
}

/** op(a) x op(b), op transposing when asked. */
type Product = (a: tf.Tensor2D, b: tf.Tensor2D, transA: boolean, transB: boolean) => tf.Tensor2D;

/**
 * tfjs' matMul with explicit transposes: tfjs-backend-wasm's matMul with
 * transposeA/transposeB (what the stock gradient uses) measured ~13x slower
 * than transpose + plain matMul on a [1568, 448] x [448, 1792] product.
 */
const tfjsProduct: Product = (a, b, ta, tb) => tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b);

/**
 * The product on a host runtime. Operands are copied into reused buffers: a runtime
 * cannot read tfjs-backend-wasm's threaded heap (a SharedArrayBuffer) in place, and a
 * fresh read allocates (and zeroes) megabytes per product.
 */
function hostProduct(gemm: HostGemm): Product {
  const scratch = [new Float32Array(0), new Float32Array(0)];
  const operand = (t: tf.Tensor, i: number): Float32Array => {
    if (tf.getBackend() !== 'wasm') return t.dataSync() as Float32Array;
    if (scratch[i]!.length < t.size) scratch[i] = new Float32Array(t.size);
    const out = scratch[i]!.subarray(0, t.size);
    out.set((tf.backend() as unknown as WasmBackend).typedArrayFromHeap(t));
    return out;
  };
  return (a, b, ta, tb) => {
    const out = gemm(operand(a, 0), a.shape, operand(b, 1), b.shape, ta, tb);
    return tf.tensor2d(out, [ta ? a.shape[1] : a.shape[0], tb ? b.shape[0] : b.shape[1]]);
  };
}

/** The tail's two differentiable matMuls over one product. */
function matMuls(p: Product) {
  const full = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: p(a as tf.Tensor2D, b as tf.Tensor2D, false, false),
      gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => [p(dy as tf.Tensor2D, sb as tf.Tensor2D, false, true), p(sa as tf.Tensor2D, dy as tf.Tensor2D, true, false)],
    };
  }) as never) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
  /**
   * matMul(a, b) differentiable in `b` only: for the tail's first layer, whose input is
   * the cached prefix, it skips dy x b^T, the largest product of that layer's backward
   * (a customGrad computes every input's gradient, used or not).
   */
  const constA = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => {
    const f = tf.customGrad(((w: tf.Tensor, save: tf.GradSaveFunc) => {
      save([a]);
      return { value: p(a, w as tf.Tensor2D, false, false), gradFunc: (dy: tf.Tensor, [sa]: tf.Tensor[]) => p(sa as tf.Tensor2D, dy as tf.Tensor2D, true, false) };
    }) as never) as unknown as (w: tf.Tensor2D) => tf.Tensor2D;
    return f(b);
  };
  return { full, constA };
}
type MatMuls = ReturnType<typeof matMuls>;

/** A 1x1 convolution as one matMul over all pixels; `constInput`: no gradient flows to `x`. */
function conv1x1(mm: MatMuls, x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, constInput = false): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const k = kernel.shape[3]!;
  const y = tf.add((constInput ? mm.constA : mm.full)(tf.reshape(x, [n * h * w, c]), tf.reshape(kernel, [c, k])), bias);
  return tf.reshape(y, [n, h, w, k]);
}

/**
 * A depthwise convolution with its bias: tf.depthwiseConv2d (XNNPACK on WASM),
 * whose gradients are tfjs' own on WebGPU and CPU and edgetune's on WASM
 * (`registerWasmTrainingKernels`). Padding follows TensorFlow's SAME (the extra
 * row/column at the bottom/right) or VALID, as the graph's op does.
 */
function depthwise(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, stride = 1, padding: Padding = 'same'): tf.Tensor4D {
  return tf.fused.depthwiseConv2d({ x, filter: kernel as tf.Tensor4D, strides: stride, pad: padding, bias });
}
