// Reading model files: http(s) through fetch, file: URLs through node:fs.
// The only network access the SDK ever makes goes through here.
import { EdgetuneError, type EdgetuneErrorCode } from '../../errors.js';

/**
 * Returns the bytes at a URL, at most `maxBytes` of them (a file or response that
 * declares more is refused before it is read); throws MODEL_LOAD_FAILED when they
 * cannot be read.
 */
export type FileFetcher = (url: URL, maxBytes?: number) => Promise<Uint8Array>;

export interface FetchPolicy {
  /**
   * Origins model files may come from besides the origin of the first manifest
   * (`'*'` allows any). A manifest or model.json cannot redirect loading elsewhere otherwise.
   * @default []
   */
  allowedOrigins?: string[];
  /** Reads files; override to serve models from memory or a custom store. */
  fetcher?: FileFetcher;
}

/** A manifest or model.json larger than this is not one. */
export const METADATA_MAX_BYTES = 16 * 1024 * 1024;
/** No model file edgetune loads comes near this; the bound keeps a crafted URL from filling memory. */
export const FILE_MAX_BYTES = 1024 * 1024 * 1024;

const tooLarge = (where: string, size: number, max: number) => new EdgetuneError('MODEL_LOAD_FAILED', `${where} is ${size} bytes, over the ${max} bytes expected`);

/** node:fs/promises, imported once and lazily so browser bundles never load it; the comments keep app bundlers from resolving it. */
let nodeFs: Promise<typeof import('node:fs/promises')> | undefined;

/**
 * A local file of at most `max` bytes: a regular file only (never a FIFO or a
 * device), its size checked before it is read. Node only.
 */
export async function readLocalFile(path: string | URL, max: number, what: string, code: EdgetuneErrorCode = 'MODEL_LOAD_FAILED'): Promise<Uint8Array> {
  const { open, constants } = await (nodeFs ??= import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:fs/promises'));
  const shown = path instanceof URL ? path.pathname : path;
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new EdgetuneError(code, `${what} ${shown}: cannot read (${(err as Error).message})`, { cause: err });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new EdgetuneError(code, `${what} ${shown}: not a regular file`);
    if (st.size > max) throw new EdgetuneError(code, `${what} ${shown}: ${st.size} bytes, over the ${max}-byte limit`);
    const bytes = new Uint8Array(st.size);
    const { bytesRead } = await handle.read(bytes, 0, st.size, 0);
    return bytesRead === st.size ? bytes : bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A response body, stopped as soon as it passes `max` bytes. */
async function readBody(res: Response, url: URL, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) throw tooLarge(url.href, declared, max);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw tooLarge(url.href, total, max);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

export const defaultFetcher: FileFetcher = async (url, maxBytes = FILE_MAX_BYTES) => {
  if (url.protocol === 'file:') return readLocalFile(url, maxBytes, 'model file');
  let res: Response;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot fetch ${url.href}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot fetch ${url.href}: HTTP ${res.status}`);
  return readBody(res, url, maxBytes);
};

/** Resolves `ref` against `base` and refuses origins the caller did not allow. */
export function resolveAllowed(ref: string, base: URL, trustedOrigin: string, policy: FetchPolicy): URL {
  let url: URL;
  try {
    url = new URL(ref, base);
  } catch {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `Invalid model file reference '${ref}' (relative to ${base.href})`);
  }
  const allowed = policy.allowedOrigins ?? [];
  if (url.origin !== trustedOrigin && !allowed.includes('*') && !allowed.includes(url.origin)) {
    throw new EdgetuneError(
      'FORBIDDEN_ORIGIN',
      `Model file ${url.href} is on origin ${url.origin}, but models may only load from ${trustedOrigin}. ` +
        `Pass allowedOrigins: ['${url.origin}'] to allow it.`,
    );
  }
  return url;
}
