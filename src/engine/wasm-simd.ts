// Two 4-lane loops over tfjs-backend-wasm's own memory, for the training kernels
// of wasm-kernels.ts: a multiply-accumulate (the depthwise gradients) and ReLU6's
// backprop. The module is a few hundred bytes, assembled here rather than shipped
// as a .wasm file (no fetch, no bundler configuration); where WebAssembly SIMD or
// the backend's memory is unavailable, the kernels keep their JavaScript loops.

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
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const str = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Opcodes (WebAssembly core + fixed-width SIMD).
const I32 = 0x7f;
const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
const [GET, SET, CONST] = [0x20, 0x21, 0x41];
const [ADD, SHL, GE_U] = [0x6a, 0x74, 0x4f];
const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00, 0x04, 0x00]; // align 2^4, offset 0
const V128_STORE = [SIMD, 0x0b, 0x04, 0x00];
const F32X4_ADD = [SIMD, ...leb(0xe4)];
const F32X4_MUL = [SIMD, ...leb(0xe6)];
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

/** relu6Backprop(dst, dy, y, n): dst[i] = 0 < y[i] < 6 ? dy[i] : 0 (a lane mask, and). */
const relu6Body = () =>
  loopBody([
    ...load(1),
    ...[...load(2), ...F32_CONST(0), ...F32X4_SPLAT, ...F32X4_GT],
    ...[...load(2), ...F32_CONST(6), ...F32X4_SPLAT, ...F32X4_LT],
    ...V128_AND,
    ...V128_AND,
  ]);

function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  // Memory limits: shared memories must declare a maximum (the wasm32 one covers any).
  const limits = shared ? [0x03, 0x00, ...leb(65536)] : [0x00, 0x00];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, ...limits]])),
    ...section(3, vec([[0x00], [0x00]])),
    ...section(7, vec([[...str('fma'), 0x00, 0x00], [...str('relu6Backprop'), 0x00, 0x01]])),
    ...section(10, vec([fmaBody(), relu6Body()])),
  ]);
}

/** (dst, a, b, n): byte pointers into the heap, n floats (a multiple of 4). */
export type Loop = (dst: number, a: number, b: number, n: number) => void;
export interface SimdLoops {
  fma: Loop;
  relu6Backprop: Loop;
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
