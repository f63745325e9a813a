// Comlink carries only name/message/stack of a thrown Error. This replaces its
// 'throw' transfer handler (same wire shape, plus `code`) so an EdgetuneError
// thrown in the worker is an EdgetuneError, with its code, on the main thread.
import { transferHandlers, type TransferHandler } from 'comlink';
import { EdgetuneError, type EdgetuneErrorCode } from './errors.js';

type Thrown = { value: unknown };
type Wire = { isError: true; value: { name: string; message: string; stack?: string; code?: EdgetuneErrorCode } } | { isError: false; value: unknown };

// Comlink marks thrown values with a private symbol; find it by its description.
const isThrown = (v: unknown): v is Thrown =>
  typeof v === 'object' && v !== null && Object.getOwnPropertySymbols(v).some((s) => s.description === 'Comlink.thrown');

const handler: TransferHandler<Thrown, Wire> = {
  canHandle: isThrown,
  serialize({ value }) {
    if (value instanceof Error) {
      const code = value instanceof EdgetuneError ? value.code : undefined;
      return [{ isError: true, value: { name: value.name, message: value.message, ...(value.stack ? { stack: value.stack } : {}), ...(code ? { code } : {}) } }, []];
    }
    return [{ isError: false, value }, []];
  },
  deserialize(wire) {
    if (!wire.isError) throw wire.value;
    const { name, message, stack, code } = wire.value;
    const err = code ? new EdgetuneError(code, message) : Object.assign(new Error(message), { name });
    if (stack) err.stack = stack;
    throw err;
  },
};

/** Installs the handler; both the page and the worker call this once. */
export function installErrorTransfer(): void {
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}
