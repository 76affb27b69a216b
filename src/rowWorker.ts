// A worker thread of src/rows.ts: one session of a model's graph, and the caches of the rows it is given. Each
// request is answered in turn, its predictions written into the shared buffers at the request's offset.
import { parentPort, workerData } from 'node:worker_threads';
import type { Cache } from './model.ts';
import { openRowGraph } from './model.ts';
import type { RowGraph, RowRequest } from './rows.ts';

const port = parentPort!;
const graph = await openRowGraph(workerData.data as RowGraph);
const caches = new Map<number, Cache>();
port.on('message', async (request: RowRequest) => {
  try {
    if (request.type === 'open') caches.set(request.id, graph.newCache(request.rows, request.window));
    else if (request.type === 'close') caches.delete(request.id);
    else {
      const { ids, length, start, predict, outputs, offset } = request;
      const next = await caches.get(request.id)!.extend(ids, length, start, { predict });
      new Float32Array(outputs[0]).set(next.logits!, offset);
      new Int32Array(outputs[1]).set(next.weights!, offset);
      port.postMessage({});
    }
  } catch (err) {
    port.postMessage({ error: (err as Error).message });
  }
});
port.postMessage('ready');
