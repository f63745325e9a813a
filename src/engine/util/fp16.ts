// IEEE half-precision (fp16) codec: caches store embeddings and activations at
// half the bytes; decoding goes through a table built once.
import { bytesOf } from './bytes.js';

/** float32 -> IEEE half (round to nearest even), as bits. */
export function toHalf(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00; // overflow -> inf
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // underflow -> 0
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mant >> shift;
      const rest = mant & ((1 << shift) - 1);
      if (rest > half || (rest === half && m & 1)) m++;
      out[i] = sign | m;
    } else {
      let m = mant >> 13;
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
        m++;
        if (m === 0x400) {
          m = 0;
          e++;
        }
      }
      out[i] = e >= 0x1f ? sign | 0x7c00 : sign | (e << 10) | m;
    }
  }
  return out;
}

let table: Float32Array | undefined;
/** IEEE half bits -> float32, through a 64K-entry table built once. */
export function fromHalf(src: Uint16Array, out: Float32Array<ArrayBufferLike> = new Float32Array(src.length)): Float32Array<ArrayBufferLike> {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      table[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

/** fp16 bytes of a float32 vector, for a persistent store. */
export function encodeHalf(v: Float32Array): Uint8Array {
  return bytesOf(toHalf(v));
}

/** float32 vector from fp16 bytes (undefined for a torn or odd-sized entry). */
export function decodeHalf(b: Uint8Array | undefined): Float32Array | undefined {
  if (!b || b.byteLength % 2 !== 0 || b.byteLength === 0) return undefined;
  const h = b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint16Array(b.slice().buffer);
  return fromHalf(h) as Float32Array;
}
