// 4-lane loops over tfjs-backend-wasm's own memory, for the training kernels of
// wasm-kernels.ts: a multiply-accumulate (the depthwise gradients), ReLU6's
// backprop, one AdamW update, fp16 -> float32 (the prefix cache's batches), an add
// (column sums) and a blocked transpose.
// The module is a few hundred bytes, assembled here rather than shipped as a .wasm
// file (no fetch, no bundler configuration); where WebAssembly SIMD or the backend's
// memory is unavailable, the kernels keep their JavaScript loops.

/** Unsigned LEB128. */
const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
/** Signed LEB128 (i32.const immediates). */
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const str = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Opcodes (WebAssembly core + fixed-width SIMD).
const [I32, F32, V128] = [0x7f, 0x7d, 0x7b];
const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
const [GET, SET, TEE, CONST] = [0x20, 0x21, 0x22, 0x41];
const [ADD, MUL, SHL, GE_U, GT_U, SELECT] = [0x6a, 0x6c, 0x74, 0x4f, 0x4b, 0x1b];
const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00, 0x04, 0x00]; // align 2^4, offset 0
const V128_STORE = [SIMD, 0x0b, 0x04, 0x00];
const V128_LOAD16X4_U = [SIMD, 0x04, 0x03, 0x00]; // four u16 -> i32x4, align 2^3
const I32X4_SPLAT = [SIMD, 0x11];
const I32X4_GT_S = [SIMD, 0x3b];
const I32X4_SHL = [SIMD, ...leb(0xab)];
const I32X4_SHR_U = [SIMD, ...leb(0xad)];
const V128_OR = [SIMD, 0x50];
/** i8x16.shuffle of two vectors by float lanes (0-3: the first, 4-7: the second). */
const SHUFFLE_F32 = (lanes: [number, number, number, number]) => [SIMD, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];
const V128_BITSELECT = [SIMD, 0x52];
const F32X4_ADD = [SIMD, ...leb(0xe4)];
const F32X4_SUB = [SIMD, ...leb(0xe5)];
const F32X4_MUL = [SIMD, ...leb(0xe6)];
const F32X4_DIV = [SIMD, ...leb(0xe7)];
const F32X4_SQRT = [SIMD, ...leb(0xe3)];
const F32X4_LT = [SIMD, 0x43];
const F32X4_GT = [SIMD, 0x44];
const F32X4_SPLAT = [SIMD, 0x13];
const V128_AND = [SIMD, 0x4e];
const F32_CONST = (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];

/**
 * A function (dst, a, b, n) over n floats (byte pointers; n a multiple of 4) whose
 * loop body leaves [address, value] for v128.store, reading lanes of dst, a, b.
 */
function loopBody(lanes: number[]): number[] {
  const [dst, a, b, n, end] = [0, 1, 2, 3, 4];
  const step = (p: number) => [GET, p, CONST, 16, ADD, SET, p];
  const code = [
    ...[GET, dst, GET, n, CONST, 2, SHL, ADD, SET, end],
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, dst, GET, end, GE_U, BR_IF, 1],
    ...[GET, dst, ...lanes, ...V128_STORE],
    ...step(dst),
    ...step(a),
    ...step(b),
    ...[BR, 0, END, END, END],
  ];
  const locals = vec([[1, I32]]);
  return [...leb(locals.length + code.length), ...locals, ...code];
}
const load = (p: number) => [GET, p, ...V128_LOAD];

/** fma(dst, a, b, n): dst[i] += a[i] * b[i]. */
const fmaBody = () => loopBody([...load(0), ...load(1), ...load(2), ...F32X4_MUL, ...F32X4_ADD]);

/** add(dst, a, b, n): dst[i] = a[i] + b[i] (a column sum is one call per row, in row order). */
const addBody = () => loopBody([...load(1), ...load(2), ...F32X4_ADD]);

/**
 * transpose(dst, src, rows, cols): dst[c][r] = src[r][c] for a rows x cols matrix of
 * 32-bit values (both multiples of 4), in 4x4 blocks: four row loads, eight lane
 * shuffles, four column stores. Column strips of 8 values (two blocks) are walked top
 * to bottom, so each source line is used up while it is in cache and the 8
 * destination rows are written in order (strips of 16 and 32 measured slower on
 * [6272, 816]: more write streams at a large stride).
 */
function transposeBody(): number[] {
  const [dst, src, rows, cols, i, j, j0, jEnd, rowBytes, colBytes, sp, dp] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [V0, V1, V2, V3, T0, T1, T2, T3] = [12, 13, 14, 15, 16, 17, 18, 19];
  const next = (p: number, stride: number) => [GET, p, GET, stride, ADD, TEE, p];
  const rowLoad = (v: number, first: number[]) => [...first, ...V128_LOAD, SET, v];
  const shuffle = (out: number, a: number, b: number, lanes: [number, number, number, number]) => [GET, a, GET, b, ...SHUFFLE_F32(lanes), SET, out];
  const colStore = (addr: number[], a: number, b: number, lanes: [number, number, number, number]) => [...addr, GET, a, GET, b, ...SHUFFLE_F32(lanes), ...V128_STORE];
  const code = [
    ...[GET, cols, CONST, 2, SHL, SET, rowBytes, GET, rows, CONST, 2, SHL, SET, colBytes],
    // for (j0 = 0; j0 < cols; j0 += 8)
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, j0, GET, cols, GE_U, BR_IF, 1],
    ...[GET, cols, GET, j0, CONST, 8, ADD, TEE, jEnd, GET, jEnd, GET, cols, GT_U, SELECT, SET, jEnd],
    ...[CONST, 0, SET, i],
    // for (i = 0; i < rows; i += 4)
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, i, GET, rows, GE_U, BR_IF, 1],
    ...[GET, j0, SET, j],
    // for (j = j0; j < jEnd; j += 4): one 4x4 block
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, j, GET, jEnd, GE_U, BR_IF, 1],
    ...rowLoad(V0, [GET, src, GET, i, GET, cols, MUL, GET, j, ADD, CONST, 2, SHL, ADD, TEE, sp]),
    ...rowLoad(V1, next(sp, rowBytes)),
    ...rowLoad(V2, next(sp, rowBytes)),
    ...rowLoad(V3, next(sp, rowBytes)),
    ...shuffle(T0, V0, V1, [0, 4, 1, 5]),
    ...shuffle(T1, V0, V1, [2, 6, 3, 7]),
    ...shuffle(T2, V2, V3, [0, 4, 1, 5]),
    ...shuffle(T3, V2, V3, [2, 6, 3, 7]),
    ...colStore([GET, dst, GET, j, GET, rows, MUL, GET, i, ADD, CONST, 2, SHL, ADD, TEE, dp], T0, T2, [0, 1, 4, 5]),
    ...colStore(next(dp, colBytes), T0, T2, [2, 3, 6, 7]),
    ...colStore(next(dp, colBytes), T1, T3, [0, 1, 4, 5]),
    ...colStore(next(dp, colBytes), T1, T3, [2, 3, 6, 7]),
    ...[GET, j, CONST, 4, ADD, SET, j],
    ...[BR, 0, END, END],
    ...[GET, i, CONST, 4, ADD, SET, i],
    ...[BR, 0, END, END],
    ...[GET, jEnd, SET, j0],
    ...[BR, 0, END, END, END],
  ];
  const locals = vec([
    [8, I32],
    [8, V128],
  ]);
  return [...leb(locals.length + code.length), ...locals, ...code];
}

/** relu6Backprop(dst, dy, y, n): dst[i] = 0 < y[i] < 6 ? dy[i] : 0 (a lane mask, and). */
const relu6Body = () =>
  loopBody([
    ...load(1),
    ...[...load(2), ...F32_CONST(0), ...F32X4_SPLAT, ...F32X4_GT],
    ...[...load(2), ...F32_CONST(6), ...F32X4_SPLAT, ...F32X4_LT],
    ...V128_AND,
    ...V128_AND,
  ]);

/** The AdamW loop's parameters: byte pointers and the float count, then its scalars. */
const ADAMW_I32 = ['wOut', 'mOut', 'vOut', 'w', 'm', 'v', 'g', 'n'] as const;
const ADAMW_F32 = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'c1', 'c2', 'epsilon', 'weightDecay', 'lr'] as const;

/**
 * adamw(wOut, mOut, vOut, w, m, v, g, n, ...scalars): one AdamW step over n floats
 * (a multiple of 4), the same float32 operations in the same order as the optimizer's
 * tfjs ops (optimizer.ts), so the result is the same to the bit:
 *   m' = m*b1 + g*(1-b1);  v' = v*b2 + (g*g)*(1-b2)
 *   w' = w - ((m'/c1) / (sqrt(v'/c2) + eps) + w*wd) * lr
 */
function adamwBody(): number[] {
  const p = (name: (typeof ADAMW_I32)[number]) => ADAMW_I32.indexOf(name);
  // Locals after the 17 parameters: end, i; the nine scalars splatted; g, m', v', w.
  const [end, i] = [17, 18];
  const S = (name: (typeof ADAMW_F32)[number]) => [GET, 19 + ADAMW_F32.indexOf(name)];
  const [G, MN, VN, W] = [28, 29, 30, 31];
  const at = (q: number) => [GET, q, GET, i, ADD];
  const ld = (q: number) => [...at(q), ...V128_LOAD];
  const code = [
    ...ADAMW_F32.flatMap((_, k) => [GET, ADAMW_I32.length + k, ...F32X4_SPLAT, SET, 19 + k]),
    ...[GET, p('n'), CONST, 2, SHL, SET, end],
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, i, GET, end, GE_U, BR_IF, 1],
    // m'
    ...at(p('mOut')),
    ...[...ld(p('m')), ...S('beta1'), ...F32X4_MUL],
    ...[...ld(p('g')), TEE, G, ...S('oneMinusBeta1'), ...F32X4_MUL],
    ...[...F32X4_ADD, TEE, MN, ...V128_STORE],
    // v'
    ...at(p('vOut')),
    ...[...ld(p('v')), ...S('beta2'), ...F32X4_MUL],
    ...[GET, G, GET, G, ...F32X4_MUL, ...S('oneMinusBeta2'), ...F32X4_MUL],
    ...[...F32X4_ADD, TEE, VN, ...V128_STORE],
    // w'
    ...at(p('wOut')),
    ...[...ld(p('w')), TEE, W],
    ...[GET, MN, ...S('c1'), ...F32X4_DIV],
    ...[GET, VN, ...S('c2'), ...F32X4_DIV, ...F32X4_SQRT, ...S('epsilon'), ...F32X4_ADD],
    ...F32X4_DIV,
    ...[GET, W, ...S('weightDecay'), ...F32X4_MUL, ...F32X4_ADD],
    ...[...S('lr'), ...F32X4_MUL, ...F32X4_SUB, ...V128_STORE],
    ...[GET, i, CONST, 16, ADD, SET, i],
    ...[BR, 0, END, END, END],
  ];
  const locals = vec([
    [2, I32],
    [13, V128],
  ]);
  return [...leb(locals.length + code.length), ...locals, ...code];
}

/**
 * halfToFloat(dst, src, n): n IEEE halves at src -> n float32 at dst (n a multiple of
 * 4; src may lie in the back half of dst's own range, 2n bytes on: each store lands
 * below what is still to be read). Exact for every half: its exponent and mantissa
 * shifted into float32 place and scaled by 2^112 (subnormals included), infinities
 * and NaNs given float32's all-ones exponent, the sign or'ed back.
 */
function halfToFloatBody(): number[] {
  const [dst, src, n, end] = [0, 1, 2, 3];
  const [LOW15, INF, BIG, MAGIC, H, EM] = [4, 5, 6, 7, 8, 9];
  const splat = (v: number) => [CONST, ...sleb(v), ...I32X4_SPLAT];
  const code = [
    ...[GET, dst, GET, n, CONST, 2, SHL, ADD, SET, end],
    ...[...splat(0x7fff), SET, LOW15, ...splat(0x7f800000), SET, INF, ...splat(0x7bff), SET, BIG],
    ...[...F32_CONST(2 ** 112), ...F32X4_SPLAT, SET, MAGIC],
    ...[BLOCK, VOID, LOOP, VOID],
    ...[GET, dst, GET, end, GE_U, BR_IF, 1],
    GET,
    dst,
    // infinity / NaN bits
    ...[GET, src, ...V128_LOAD16X4_U, TEE, H, GET, LOW15, ...V128_AND, TEE, EM, CONST, 13, ...I32X4_SHL, GET, INF, ...V128_OR],
    // finite values
    ...[GET, EM, CONST, 13, ...I32X4_SHL, GET, MAGIC, ...F32X4_MUL],
    ...[GET, EM, GET, BIG, ...I32X4_GT_S, ...V128_BITSELECT],
    // sign
    ...[GET, H, CONST, 15, ...I32X4_SHR_U, CONST, 31, ...I32X4_SHL, ...V128_OR],
    ...V128_STORE,
    ...[GET, dst, CONST, 16, ADD, SET, dst, GET, src, CONST, 8, ADD, SET, src],
    ...[BR, 0, END, END, END],
  ];
  const locals = vec([
    [1, I32],
    [6, V128],
  ]);
  return [...leb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  // Memory limits: shared memories must declare a maximum (the wasm32 one covers any).
  const limits = shared ? [0x03, 0x00, ...leb(65536)] : [0x00, 0x00];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      vec([
        [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00],
        [0x60, ...vec([...ADAMW_I32.map(() => [I32]), ...ADAMW_F32.map(() => [F32])]), 0x00],
        [0x60, ...vec([[I32], [I32], [I32]]), 0x00],
      ]),
    ),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, ...limits]])),
    ...section(3, vec([[0x00], [0x00], [0x01], [0x02], [0x00], [0x00]])),
    ...section(
      7,
      vec([
        [...str('fma'), 0x00, 0x00],
        [...str('relu6Backprop'), 0x00, 0x01],
        [...str('adamw'), 0x00, 0x02],
        [...str('halfToFloat'), 0x00, 0x03],
        [...str('add'), 0x00, 0x04],
        [...str('transpose'), 0x00, 0x05],
      ]),
    ),
    ...section(10, vec([fmaBody(), relu6Body(), adamwBody(), halfToFloatBody(), addBody(), transposeBody()])),
  ]);
}

/** (dst, a, b, n): byte pointers into the heap, n floats (a multiple of 4). */
export type Loop = (dst: number, a: number, b: number, n: number) => void;
export interface SimdLoops {
  fma: Loop;
  relu6Backprop: Loop;
  /** Byte pointers (wOut, mOut, vOut, w, m, v, g), n floats (a multiple of 4), then the scalars of ADAMW_F32. */
  adamw(...args: number[]): void;
  /** (dst, src, n): byte pointers, n halves at src -> n floats at dst (a multiple of 4). */
  halfToFloat(dst: number, src: number, n: number): void;
  /** (dst, a, b, n): dst = a + b over n floats (a multiple of 4). */
  add: Loop;
  /** (dst, src, rows, cols): byte pointers; a rows x cols matrix of 32-bit values transposed (both multiples of 4). */
  transpose(dst: number, src: number, rows: number, cols: number): void;
}

const cache = new WeakMap<WebAssembly.Memory, SimdLoops | null>();

/** The SIMD loops bound to `memory`, or null where they cannot run. */
export function simdLoops(memory: WebAssembly.Memory | undefined): SimdLoops | null {
  if (!memory || typeof WebAssembly === 'undefined') return null;
  if (cache.has(memory)) return cache.get(memory)!;
  let fn: SimdLoops | null = null;
  try {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = moduleBytes(shared);
    if (WebAssembly.validate(bytes)) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      fn = instance.exports as unknown as SimdLoops;
    }
  } catch {
    fn = null; // no SIMD in this engine: the JavaScript loops stay
  }
  cache.set(memory, fn);
  return fn;
}
