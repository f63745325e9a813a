// Images the demo keeps: every added photo is decoded, downscaled to the size
// the SDK decodes to anyway, and stored as JPEG (small in IndexedDB, fast to re-add).

/** The longer side the SDK decodes to (its DECODE_MAX_SIDE): larger stored images only cost space. */
export const STORE_MAX_SIDE = 448;

export interface DownscaleOptions {
  /** Longer side of the result in pixels. @default STORE_MAX_SIDE */
  maxSide?: number;
}

/** A file the demo could not read, with the browser's reason. */
export interface UnreadableFile {
  name: string;
  reason: string;
}

const nameOf = (blob: Blob) => (blob instanceof File ? blob.name : 'image');

/**
 * One image as a JPEG whose longer side is at most `maxSide`. Options come as
 * an object so that `files.map(downscaleImage)` does not type-check: Array.map
 * would pass the element's index as the size.
 */
export async function downscaleImage(blob: Blob, opts: DownscaleOptions = {}): Promise<Blob> {
  const maxSide = opts.maxSide ?? STORE_MAX_SIDE;
  if (!(Number.isFinite(maxSide) && maxSide >= 1)) throw new RangeError(`maxSide must be a positive number, got ${String(maxSide)}`);
  if (blob.size === 0) throw new Error(`${nameOf(blob)}: empty file`);
  const bmp = await createImageBitmap(blob).catch((err: Error) => {
    throw new Error(`${nameOf(blob)}: not a readable image (${err.message})`);
  });
  try {
    const s = Math.min(1, maxSide / Math.max(bmp.width, bmp.height));
    if (s === 1 && blob.type === 'image/jpeg') return blob;
    const c = new OffscreenCanvas(Math.max(1, Math.round(bmp.width * s)), Math.max(1, Math.round(bmp.height * s)));
    const g = c.getContext('2d')!;
    g.fillStyle = '#fff'; // transparent pixels become white, as the SDK does
    g.fillRect(0, 0, c.width, c.height);
    g.drawImage(bmp, 0, 0, c.width, c.height);
    return await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
  } finally {
    bmp.close();
  }
}

/**
 * Downscales many files a few at a time (all at once would hold every decoded
 * bitmap in memory), keeping their order; files that cannot be read are
 * returned apart, so one bad file does not lose the others.
 */
export async function downscaleImages(
  files: readonly Blob[],
  opts: DownscaleOptions & { concurrency?: number } = {},
): Promise<{ images: Blob[]; unreadable: UnreadableFile[] }> {
  const results: (Blob | UnreadableFile)[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < files.length; i = next++) {
      const file = files[i]!;
      results[i] = await downscaleImage(file, opts).catch((err: Error) => ({ name: nameOf(file), reason: err.message }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(files.length, opts.concurrency ?? 4) }, worker));
  return {
    images: results.filter((r): r is Blob => r instanceof Blob),
    unreadable: results.filter((r): r is UnreadableFile => !(r instanceof Blob)),
  };
}
