// What export() takes, and the held-out evaluation a model records for its card.
import type { ClassMetrics } from './types.js';

/** A held-out evaluation as a model records it. */
export interface ModelEvaluation {
  /** What was evaluated: 'test' for an ImageFolder's test split. */
  split: string;
  /** The data's name (an ImageFolder's folder name), when known. */
  dataset?: string;
  accuracy: number;
  n: number;
  perClass: ClassMetrics[];
  ece?: number;
}

export interface ExportOptions {
  /**
   * 'edgetune': the model directory edgetune loads (edgetune.json, the head, a tail).
   * 'onnx': one `model.onnx` (backbone, fine-tuned tail, head, softmax) for ONNX Runtime;
   * input `image` uint8 [n, height, width, 3] RGB of any size (the model resizes), output
   * `probabilities` [n, classes]; `labels.json` beside it.
   * 'tflite': one `model.tflite` (the same network) for LiteRT / TensorFlow Lite; input
   * `image` float32 [1, height, width, 3], RGB 0..255 already resized to the backbone's
   * size (docs/exports.md has the resize), output `probabilities` [1, classes];
   * `labels.json` beside it.
   * @default 'edgetune'
   */
  format?: 'edgetune' | 'onnx' | 'tflite';
  /**
   * 'onnx' and 'tflite': int8 weights and activations, calibrated on the training
   * examples this classifier holds (on the device); about a quarter of the float size.
   * @default false
   */
  int8?: boolean;
  /** How many training examples calibrate an int8 export (taken in turn from each class). @default 64 */
  calibrationImages?: number;
  /** Also write merged/model.json: backbone and head in one tfjs graph model ('edgetune' format). @default false */
  merged?: boolean;
  /** Numbers to record in edgetune.json (test accuracy, say). */
  metrics?: Record<string, number>;
  /**
   * A held-out evaluation (engine.evaluate() on a test split) to record in edgetune.json
   * and report in the model card (README.md) every export writes beside the model.
   * Without it, an export keeps the one the model was loaded with.
   */
  evaluation?: ModelEvaluation;
}
