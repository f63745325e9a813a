// The worker for the reliability tests: the shipped worker service, plus two
// faults a test page injects over a BroadcastChannel (none of this ships in dist/):
//   'crash'        an uncaught error, what a crashed worker looks like to the page
//   'lose-device'  the WebGPU device destroyed, what a lost device looks like
//   'quota' / 'write-error'  the next IndexedDB writes fail as a full disk or a broken store would
//   'writes-ok'    writes work again
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { installErrorTransfer } from '../../src/error-transfer.js';
import { WorkerService } from '../../src/worker/service.js';

installErrorTransfer();
// Served from the repository root: the package's files sit at their places in it.
expose(new WorkerService({ root: new URL('/', location.href), files: {} }));

/** The DOMException name IndexedDB writes fail with, or null. */
let failWrites: string | null = null;
const realPut = IDBObjectStore.prototype.put;
IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
  if (!failWrites || this.name !== 'models') return realPut.apply(this, args);
  // As a browser fails a write: the request errors and its transaction aborts with that error.
  const request = realPut.apply(this, args);
  this.transaction.abort();
  Object.defineProperty(this.transaction, 'error', { value: new DOMException('simulated write failure', failWrites) });
  return request;
};

new BroadcastChannel('edgetune-testing').onmessage = ({ data }) => {
  if (data === 'crash') {
    setTimeout(() => {
      throw new Error('simulated worker crash');
    });
  } else if (data === 'quota' || data === 'write-error') {
    failWrites = data === 'quota' ? 'QuotaExceededError' : 'UnknownError';
  } else if (data === 'writes-ok') {
    failWrites = null;
  } else if (data === 'lose-device') {
    (tf.backend() as unknown as { device?: { destroy(): void } }).device?.destroy();
  }
};
