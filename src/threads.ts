// Worker threads that run one of this package's TypeScript modules (through src/thread.mjs).
import { Worker } from 'node:worker_threads';

/** A worker thread running `module` (a URL beside this file's), which reads `data` from its workerData.data. */
export const startThread = (module: URL, data: unknown) => new Worker(new URL('./thread.mjs', import.meta.url), { workerData: { module: module.href, data } });
