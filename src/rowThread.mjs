// The entry of a worker thread of src/rows.ts: TypeScript is loaded through tsx here, since a worker does not
// inherit the loader its parent was started with.
import { register } from 'tsx/esm/api';

register();
await import('./rowWorker.ts');
