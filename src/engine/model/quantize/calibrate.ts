// Calibration for int8 exports: runs the exported Network (the backbone with
// the trained weights, exactly what the writers translate) on the user's own
// images with tfjs, on this device, and records every value's range. The same
// executor gives the network's features, which the tests compare with the
// engine's embeddings to show it computes what the export computes.
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../../util/async.js';
import type { Network, NetOp } from '../network.js';
import type { Range } from './int8.js';

type Tensors = Map<string, tf.Tensor>;

function constants(net: Network): Tensors {
  const out: Tensors = new Map();
  for (const [name, w] of net.weights) out.set(name, tf.tensor(w.data, w.shape, 'float32'));
  return out;
}

const padded = (x: tf.Tensor4D, [t, b, l, r]: readonly number[]) => (t || b || l || r ? tf.pad(x, [[0, 0], [t!, b!], [l!, r!], [0, 0]]) : x);

function activate(y: tf.Tensor, act: 'none' | 'relu' | 'relu6'): tf.Tensor {
  return act === 'relu6' ? tf.relu6(y) : act === 'relu' ? tf.relu(y) : y;
}

function runOp(op: NetOp, at: (n: string) => tf.Tensor, w: Tensors): tf.Tensor {
  switch (op.kind) {
    case 'conv': {
      const x = padded(at(op.input) as tf.Tensor4D, op.pads);
      const k = w.get(op.kernel)! as tf.Tensor4D;
      const y = op.depthwise ? tf.depthwiseConv2d(x, k, op.stride, 'valid') : tf.conv2d(x, k, op.stride, 'valid');
      return activate(tf.add(y, w.get(op.bias)!), op.act);
    }
    case 'pad':
      return padded(at(op.input) as tf.Tensor4D, op.pads);
    case 'add':
      return tf.add(at(op.inputs[0]), at(op.inputs[1]));
    case 'scalar': {
      const [x, c] = [at(op.input), w.get(op.value)!];
      const [a, b] = op.constFirst ? [c, x] : [x, c];
      return op.op === 'Mul' ? tf.mul(a, b) : op.op === 'Sub' ? tf.sub(a, b) : tf.add(a, b);
    }
    case 'relu':
      return activate(at(op.input), op.act);
    case 'identity':
      return at(op.input);
    case 'meanpool':
      return tf.mean(at(op.input), [1, 2]);
  }
}

/** The network's output for a normalized input batch [n, h, w, 3]; `visit` sees every value (call inside tf.tidy). */
export function runNetwork(net: Network, x: tf.Tensor4D, weights: Tensors, visit?: (name: string, value: tf.Tensor) => void): tf.Tensor {
  const values: Tensors = new Map([[net.input, x]]);
  const at = (n: string) => values.get(n) ?? (() => { throw new Error(`'${n}' is read before it is computed`); })();
  visit?.(net.input, x);
  for (const op of net.ops) {
    const y = runOp(op, at, weights);
    values.set(op.name, y);
    visit?.(op.name, y);
  }
  return at(net.output);
}

/** Runs `fn` with the network's weights as tensors, disposed after. */
export async function withNetworkWeights<T>(net: Network, fn: (weights: Tensors) => Promise<T>): Promise<T> {
  const weights = constants(net);
  try {
    return await fn(weights);
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/**
 * The range of every value of the network (its input and each op's output) over
 * the calibration batches. Each batch costs one forward pass and one read.
 */
export async function calibrateRanges(net: Network, batches: AsyncIterable<tf.Tensor4D>, signal?: AbortSignal): Promise<Map<string, Range>> {
  const ranges = new Map<string, Range>();
  await withNetworkWeights(net, async (weights) => {
    for await (const x of batches) {
      try {
        throwIfAborted(signal);
        const names: string[] = [];
        const packed = tf.tidy(() => {
          const parts: tf.Tensor[] = [];
          runNetwork(net, x, weights, (name, v) => {
            names.push(name);
            parts.push(tf.stack([tf.min(v), tf.max(v)]));
          });
          return tf.concat(parts);
        });
        const mm = (await packed.data()) as Float32Array;
        packed.dispose();
        names.forEach((name, i) => {
          const r = ranges.get(name);
          ranges.set(name, r ? [Math.min(r[0], mm[2 * i]!), Math.max(r[1], mm[2 * i + 1]!)] : [mm[2 * i]!, mm[2 * i + 1]!]);
        });
      } finally {
        x.dispose();
      }
    }
  });
  return ranges;
}
