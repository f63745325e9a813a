// Byte helpers shared by model IO (weights files, shards, exports).

/** The bytes of a typed array's view (no copy). */
export const bytesOf = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Concatenates byte arrays (or the bytes of any typed arrays) into one new Uint8Array. */
export function concatBytes(parts: readonly ArrayBufferView[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(bytesOf(p), o);
    o += p.byteLength;
  }
  return out;
}
