// The entry of this package's worker threads (src/rows.ts, src/frameWorkers.ts): TypeScript is loaded through tsx
// here, since a worker does not inherit the loader its parent was started with; then the module workerData names.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
