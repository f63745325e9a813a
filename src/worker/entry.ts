// The worker entry: the one module with side effects. The engine, tfjs and the
// chosen backend live in this worker, never on the main thread.
import { expose } from 'comlink';
import { installErrorTransfer } from '../error-transfer.js';
import { WorkerService } from './service.js';

installErrorTransfer();
expose(new WorkerService());
