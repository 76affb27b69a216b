// A step's rows spread over threads, each with a session of its own: this graph's operators are too small for
// onnxruntime's own thread pool to pay (a second pool thread makes a 33-row step slower: bench/profile.ts
// --threads), while whole sessions side by side share the work (bench/sessions.ts). Rows are independent
// streams, so how they are split changes no number (test/integer.test.ts).
import { availableParallelism, totalmem } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Cache, Next } from './model.ts';
import { startThread } from './threads.ts';

/** What a worker opens: the graph file of a model folder, run by one thread. */
export interface RowGraph {
  dir: string;
  graph: string;
}

/** Messages to a worker: open or close a cache of its rows, or extend one (outputs go into shared memory). */
export type RowRequest =
  | { type: 'open'; id: number; rows: number; window: number }
  | { type: 'close'; id: number }
  | { type: 'extend'; id: number; ids: BigInt64Array; length: number; start: number; predict: number; outputs: SharedArrayBuffer[]; offset: number };

/**
 * How many sessions side by side `threads` asks for; 0: one per core, but no more than a quarter of the
 * machine's memory holds at 0.5 GB each (bench/profile.ts: a session peaks at 153 MB once loaded, 474–485 MB
 * before its 7-bit matrices were stored beside the graph; its rows' caches and outputs come on top).
 */
export const sessionsFor = (threads: number | undefined) => Math.max(1, threads || Math.min(availableParallelism(), Math.floor(totalmem() / 2 ** 31)));

/** Threads that each hold a session of the graph, started once (on first use, or earlier by `start`) and left to end
 * with the process. */
export class RowWorkers {
  private workers?: { worker: Worker; ready: Promise<void> }[];
  private nextId = 0;

  constructor(private readonly graph: RowGraph, readonly count: number) {}

  /** Into how many shares a cache of `rows` rows splits: this thread's and one a worker. */
  sharesOf(rows: number, feeding: boolean): number {
    return Math.min(this.count + 1, feeding ? rows : Math.floor(rows / 8));
  }

  /** The workers, started once; each answers its requests in order. */
  start() {
    this.workers ??= Array.from({ length: this.count }, () => {
      const worker = startThread(new URL('./rowWorker.ts', import.meta.url), this.graph);
      worker.unref();
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      return { worker, ready };
    });
    return this.workers;
  }

  /**
   * A cache of `rows` rows: the first share here in `own`, the others one per worker. Stepping one position a
   * call, a share needs 8 rows or more to pay for its messages and copies (bench/sessions.ts); feeding many
   * positions a call, one row is enough.
   */
  cache(own: (rows: number) => Cache, rows: number, window: number, vocab: number, feeding = false): Cache {
    const shares = this.sharesOf(rows, feeding);
    if (shares < 2) return own(rows);
    const sizes = Array.from({ length: shares }, (_, i) => Math.floor(rows / shares) + (i < rows % shares ? 1 : 0));
    return new SplitCache(own(sizes[0]), this.start().slice(0, shares - 1), sizes, window, vocab, this.nextId++);
  }
}

/** Posts a request and waits for its answer, or for the worker's failure. */
function answer(worker: Worker, request: RowRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      worker.off('message', reply);
      reject(err);
    };
    const reply = (message: { error?: string }) => {
      worker.off('error', fail);
      if (message.error) reject(new Error(message.error));
      else resolve();
    };
    worker.once('message', reply);
    worker.once('error', fail);
    worker.postMessage(request);
  });
}

/** One cache whose rows are shares: the first computed in this thread while the workers compute theirs. Only the
 * integer graph splits, so a prediction is its logits and weights. */
class SplitCache implements Cache {
  private outputs: SharedArrayBuffer[] = [];
  private size = 0;
  private readonly rows: number;

  constructor(
    private readonly own: Cache,
    private readonly workers: { worker: Worker; ready: Promise<void> }[],
    private readonly sizes: number[],
    window: number,
    private readonly vocab: number,
    private readonly id: number,
  ) {
    this.rows = sizes.reduce((a, b) => a + b);
    workers.forEach(({ worker }, w) => worker.postMessage({ type: 'open', id, rows: sizes[w + 1], window } satisfies RowRequest));
  }

  async extend(ids: BigInt64Array, length: number, start: number, ask: { codes?: Int32Array; predict?: number } = {}): Promise<Next> {
    const predict = ask.predict ?? 1;
    const size = this.rows * predict * this.vocab;
    if (this.size < size) {
      this.outputs = [new SharedArrayBuffer(4 * size), new SharedArrayBuffer(4 * size)];
      this.size = size;
    }
    let row = this.sizes[0];
    const answers = this.workers.map(({ worker, ready }, w) => {
      const share = this.sizes[w + 1];
      const request: RowRequest = { type: 'extend', id: this.id, ids: ids.slice(row * length, (row + share) * length), length, start, predict, outputs: this.outputs, offset: row * predict * this.vocab };
      row += share;
      return ready.then(() => answer(worker, request));
    });
    const mine = await this.own.extend(ids.subarray(0, this.sizes[0] * length), length, start, ask);
    await Promise.all(answers);
    const logits = new Float32Array(this.outputs[0], 0, size);
    const weights = new Int32Array(this.outputs[1], 0, size);
    logits.set(mine.logits!);
    weights.set(mine.weights!);
    return { logits, weights };
  }

  close(): void {
    this.own.close?.();
    for (const { worker } of this.workers) worker.postMessage({ type: 'close', id: this.id } satisfies RowRequest);
  }
}
