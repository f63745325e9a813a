// The worker for the reliability tests: the shipped worker service, plus two
// faults a test page injects over a BroadcastChannel (none of this ships in dist/):
//   'crash'        an uncaught error, what a crashed worker looks like to the page
//   'lose-device'  the WebGPU device destroyed, what a lost device looks like
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { installErrorTransfer } from '../../src/error-transfer.js';
import { WorkerService } from '../../src/worker/service.js';

installErrorTransfer();
// Served from the repository root: the package's files sit at their places in it.
expose(new WorkerService({ root: new URL('/', location.href), files: {} }));

new BroadcastChannel('edgetune-testing').onmessage = ({ data }) => {
  if (data === 'crash') {
    setTimeout(() => {
      throw new Error('simulated worker crash');
    });
  } else if (data === 'lose-device') {
    (tf.backend() as unknown as { device?: { destroy(): void } }).device?.destroy();
  }
};
