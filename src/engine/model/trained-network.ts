// What every standalone export writes: the backbone as a Network with a
// fine-tuned tail's weights in place, and the head's dense layers (BatchNorm
// folded), all as float32 arrays independent of tfjs.
import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from './backbone.js';
import type { Head } from './head.js';
import { backboneNetwork, type Network, type Weight } from './network.js';
import type { Tail } from './tail.js';

export interface Dense {
  /** [in, out] */
  kernel: Weight;
  /** [out] */
  bias: Weight;
}

export interface TrainedNetwork {
  network: Network;
  /** ReLU between layers, softmax after the last. */
  dense: Dense[];
}

async function weightOf(t: tf.Tensor): Promise<Weight> {
  return { shape: t.shape, data: Float32Array.from((await t.data()) as Float32Array) };
}

export async function trainedNetwork(backbone: Backbone, head: Head, tail: Tail | null): Promise<TrainedNetwork> {
  const tailWeights = new Map<string, Weight>();
  for (const w of tail?.weights() ?? []) tailWeights.set(w.name, await weightOf(w.tensor));
  const network = backboneNetwork(backbone, tailWeights);
  const folded = head.foldedWeights();
  const dense: Dense[] = [];
  try {
    for (let i = 0; i < folded.length; i += 2) dense.push({ kernel: await weightOf(folded[i]!), bias: await weightOf(folded[i + 1]!) });
  } finally {
    tf.dispose(folded);
  }
  return { network, dense };
}
