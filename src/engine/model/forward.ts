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

export interface BackboneForward {
  /** 'tfjs', or the runtime's name (reported by the CLI and the bench). */
  readonly name: string;
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
