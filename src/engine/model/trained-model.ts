// A trained model as one value: the head, the fine-tuned tail (partial
// strategy), the labels in output order, the open-set data and how it was
// trained. It is built whole, swapped whole and disposed whole; calls that
// started with it finish with it, even when a newer model replaces it meanwhile.
import type { ModelMetadata } from './artifacts.js';
import type { Head } from './head.js';
import type { OpenSet } from './open-set.js';
import type { Tail } from './tail.js';

/** What inference needs: a trained model, or class prototypes before any training. */
export interface Predictor {
  readonly head: Head | null;
  readonly tail: Tail | null;
  readonly openSet: OpenSet | null;
  readonly labels: readonly string[];
  /** Runs `fn` with the model held: if it is retired meanwhile, it is freed when the last holder is done. */
  use<T>(fn: (model: this) => Promise<T>): Promise<T>;
  /** Marks the model replaced: freed now, or when the calls using it finish. Idempotent. */
  retire(): void;
}

/** Reference counting for a model that calls may still be using when it is replaced. */
abstract class Held {
  private users = 0;
  private retired = false;
  private freed = false;

  async use<T>(fn: (model: this) => Promise<T>): Promise<T> {
    this.users++;
    try {
      return await fn(this);
    } finally {
      this.users--;
      if (this.retired && this.users === 0) this.free();
    }
  }

  retire(): void {
    this.retired = true;
    if (this.users === 0) this.free();
  }

  get isFreed(): boolean {
    return this.freed;
  }

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    this.release();
  }

  protected abstract release(): void;
}

export class TrainedModel extends Held implements Predictor {
  constructor(
    readonly head: Head,
    readonly tail: Tail | null,
    readonly labels: readonly string[],
    /** Prototypes and rejection thresholds; null for models exported before they existed. */
    readonly openSet: OpenSet | null,
    readonly training?: ModelMetadata['training'],
    /** The held-out evaluation recorded with the model, if any. */
    readonly evaluation?: ModelMetadata['evaluation'],
  ) {
    super();
  }

  protected release(): void {
    this.head.dispose();
    this.tail?.dispose();
    this.openSet?.dispose();
  }
}

/** Before any training: answers from the nearest class prototype of the examples. */
export class PrototypeModel extends Held implements Predictor {
  readonly head = null;
  readonly tail = null;

  constructor(
    readonly labels: readonly string[],
    readonly openSet: OpenSet,
    /** The examples' version the prototypes were computed from. */
    readonly version: number,
  ) {
    super();
  }

  protected release(): void {
    this.openSet.dispose();
  }
}
