// Cooperative scheduling for long work: yielding to the event loop between
// batches, and the abort check every long loop makes.
import { EdgetuneError } from '../../errors.js';

/**
 * Yields to the event loop (a macrotask, not a microtask), so that messages such
 * as a worker's abort request get processed between epochs and batches.
 */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    // setImmediate in Node; a MessageChannel round trip in browsers and workers,
    // where nested setTimeout(0) is clamped to 4 ms (40 epochs would lose 160 ms).
    const g = globalThis as { setImmediate?: (f: () => void) => void };
    if (g.setImmediate) return g.setImmediate(resolve);
    if (typeof MessageChannel === 'undefined') return void setTimeout(resolve, 0);
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EdgetuneError('ABORTED', 'fineTune was aborted; the previous model is unchanged');
}

