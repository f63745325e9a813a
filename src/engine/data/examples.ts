// Training examples: a label, a content hash (the cache key) and a way to get
// the pixels back, so file-backed datasets need not stay decoded in memory.
import { UNKNOWN_LABEL } from '../../constants.js';
import { EdgetuneError } from '../../errors.js';
import type { RawImage } from '../../types.js';

import { validateRawImage } from './preprocess.js';
import { sha256Hex } from '../util/hash.js';

export interface ImageSource {
  /** sha256 of the image content: equal content, equal embeddings. */
  readonly hash: string;
  /** Shown in errors and prediction output (a file path, say). */
  readonly name: string;
  load(): Promise<RawImage>;
}

export type Split = 'train' | 'val';

export interface Example {
  label: string;
  source: ImageSource;
  /** 'val' pins the example to the validation set; otherwise the split is automatic. */
  split?: Split;
  /** Given by the engine that holds it: how inspect() names it and removeExamples() finds it. */
  id?: number;
}

export const MAX_LABEL_LENGTH = 100;

/** Validates a class label: a non-empty string of at most 100 characters, no control characters. */
export function checkLabel(label: unknown): string {
  if (typeof label !== 'string') throw new EdgetuneError('INVALID_LABEL', `Label must be a string, got ${typeof label}`);
  const trimmed = label.trim();
  if (!trimmed) throw new EdgetuneError('INVALID_LABEL', 'Label must not be empty or whitespace');
  if ([...trimmed].length > MAX_LABEL_LENGTH) {
    throw new EdgetuneError('INVALID_LABEL', `Label is ${[...trimmed].length} characters; the maximum is ${MAX_LABEL_LENGTH}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new EdgetuneError('INVALID_LABEL', 'Label must not contain control characters');
  if (trimmed === UNKNOWN_LABEL) throw new EdgetuneError('INVALID_LABEL', `'${UNKNOWN_LABEL}' is reserved for rejected inputs`);
  return trimmed;
}

/** An in-memory image as a source; hashes its pixels and dimensions. */
export async function pixelSource(img: RawImage, name = 'image'): Promise<ImageSource> {
  validateRawImage(img, name);
  const header = new Uint8Array(new Uint32Array([img.width, img.height, img.channels]).buffer);
  const bytes = new Uint8Array(header.length + img.data.length);
  bytes.set(header);
  bytes.set(img.data, header.length);
  const hash = await sha256Hex(bytes);
  return { hash, name, load: async () => img };
}
