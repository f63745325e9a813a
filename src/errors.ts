/**
 * The one error class edgetune throws. `code` is stable across versions and
 * across the worker boundary; `message` says what failed, what was expected
 * and how to fix it.
 */
export type EdgetuneErrorCode =
  /** An option or argument has the wrong type or value. */
  | 'INVALID_ARGUMENT'
  /** An image could not be decoded or is unusable (corrupt, empty, unsupported format, too small). */
  | 'INVALID_IMAGE'
  /** A label is empty, too long, or not a string. */
  | 'INVALID_LABEL'
  /** fineTune was called without examples. */
  | 'NO_EXAMPLES'
  /** Fewer than two classes have examples. */
  | 'TOO_FEW_CLASSES'
  /** predict/evaluate/export before a model was trained or loaded. */
  | 'NOT_TRAINED'
  /** A second fineTune while one is running. */
  | 'BUSY'
  /** The caller's AbortSignal fired; the previous model is unchanged. */
  | 'ABORTED'
  /** The classifier was disposed. */
  | 'DISPOSED'
  /** No requested backend could be initialized. */
  | 'BACKEND_UNAVAILABLE'
  /** A backbone id that is not bundled. */
  | 'UNKNOWN_BACKBONE'
  /** A model or manifest could not be fetched or parsed. */
  | 'MODEL_LOAD_FAILED'
  /** A model file's sha256 or size differs from its manifest. */
  | 'MODEL_INTEGRITY'
  /** A saved model does not fit: other backbone, newer format, wrong shapes. */
  | 'MODEL_INCOMPATIBLE'
  /** A model URL points to an origin the caller did not allow. */
  | 'FORBIDDEN_ORIGIN'
  /** A data folder is missing, empty or not in ImageFolder layout. */
  | 'INVALID_DATASET'
  /** Persisting a model failed (includes storage quota). */
  | 'SAVE_FAILED'
  /** Storage quota exceeded while saving. */
  | 'QUOTA_EXCEEDED'
  /** The training loss stopped being a finite number (a learning rate far too high); the previous model is kept. */
  | 'TRAINING_DIVERGED'
  /** A training step would need more memory than allowed (`stepMemoryBytes`), even for one image; nothing was trained. */
  | 'OUT_OF_MEMORY'
  /** The worker died; pending calls reject with this code. */
  | 'WORKER_CRASHED'
  /** An optional package this feature needs is not installed (sharp, for decoding image files in Node). */
  | 'MISSING_DEPENDENCY'
  /** An unexpected internal failure (a bug: please report it). */
  | 'INTERNAL';

export class EdgetuneError extends Error {
  override readonly name = 'EdgetuneError';
  readonly code: EdgetuneErrorCode;

  constructor(code: EdgetuneErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True for an EdgetuneError, optionally of one code. */
export function isEdgetuneError(err: unknown, code?: EdgetuneErrorCode): err is EdgetuneError {
  return err instanceof EdgetuneError && (code === undefined || err.code === code);
}

/** Wraps any thrown value as an EdgetuneError, keeping EdgetuneErrors as they are. */
export function asEdgetuneError(err: unknown, code: EdgetuneErrorCode, context: string): EdgetuneError {
  if (err instanceof EdgetuneError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new EdgetuneError(code, `${context}: ${detail}`, { cause: err });
}
