// Reading model files: http(s) through fetch, file: URLs through node:fs.
// The only network access the SDK ever makes goes through here.
import { EdgetuneError } from '../../errors.js';

/** Returns the bytes at a URL; throws MODEL_LOAD_FAILED when they cannot be read. */
export type FileFetcher = (url: URL) => Promise<Uint8Array>;

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

export const defaultFetcher: FileFetcher = async (url) => {
  if (url.protocol === 'file:') {
    // Imported lazily so browser bundles never load node:fs; the comments keep app bundlers from resolving it.
    const { readFile } = await import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:fs/promises');
    try {
      return new Uint8Array(await readFile(url));
    } catch (err) {
      throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot read ${url.pathname}: ${(err as Error).message}`, { cause: err });
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot fetch ${url.href}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
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
