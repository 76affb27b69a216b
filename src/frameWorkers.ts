// Frames coded side by side, one a worker thread: each worker loads the model (on a GPU, its own stream of the
// kernels) and codes a whole frame at a time, the mixer and the floor coders (brotli, zstd, cm) included, so
// frames use the cores and the GPU together. Frames are independent: the bytes are those of one thread.
import type { Worker } from 'node:worker_threads';
import { UserError } from './cli.ts';
import type { Limits } from './container.ts';
import type { ByteProgress, CodedBlock, CodingOptions, FrameCoder } from './frames.ts';
import type { ModelOptions } from './model.ts';
import type { Place } from './range.ts';
import { startThread } from './threads.ts';

/** What a worker is started with: the model a user named, its options (the GPU included), the coding, the limits. */
export interface FrameSetup {
  model?: string;
  modelOptions: ModelOptions;
  coding: CodingOptions;
  limits: Limits;
}

/** A worker's one job at a time, and its messages back: progress (bytes of the frame), then a result or an error. */
export type FrameJob = { type: 'encode'; block: Uint8Array; place: Place; only: boolean } | { type: 'decode'; record: Uint8Array };
export type FrameReply = { progress: number } | { result: CodedBlock | Uint8Array } | { error: string; name: string; user: boolean };

interface Task {
  job: FrameJob;
  progress?: ByteProgress;
  resolve(value: CodedBlock | Uint8Array): void;
  reject(err: Error): void;
}

/** Up to `count` workers, started as jobs come (worker i with `setup(i)`); jobs wait in order for the first free one. */
export class FrameWorkers implements FrameCoder {
  private readonly idle: Worker[] = [];
  private readonly running = new Set<Worker>();
  private readonly queue: Task[] = [];
  private started = 0;

  constructor(private readonly count: number, private readonly setup: (index: number) => FrameSetup) {}

  encode(block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock> {
    return this.run({ type: 'encode', block, place, only }, progress) as Promise<CodedBlock>;
  }

  decode(record: Uint8Array, progress?: ByteProgress): Promise<Uint8Array> {
    return this.run({ type: 'decode', record }, progress) as Promise<Uint8Array>;
  }

  /** Ends every worker; jobs not yet done are refused. Later jobs start new workers. */
  async close(): Promise<void> {
    for (const task of this.queue.splice(0)) task.reject(new Error('the frame workers were closed'));
    const workers = [...this.idle, ...this.running];
    this.idle.length = 0;
    this.running.clear();
    // held open until they have ended: an idle worker is unref'd, and a process whose loop holds nothing else would
    // exit with this wait unsettled
    await Promise.all(
      workers.map((worker) => {
        worker.ref();
        return worker.terminate();
      }),
    );
  }

  private run(job: FrameJob, progress?: ByteProgress): Promise<CodedBlock | Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, progress, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.running.size < this.count ? startThread(new URL('./frameWorker.ts', import.meta.url), this.setup(this.started++)) : undefined);
      if (!worker) return;
      this.give(worker, this.queue.shift()!);
    }
  }

  /** Runs a task on a worker; an idle worker does not hold the process open. */
  private give(worker: Worker, task: Task): void {
    this.running.add(worker);
    worker.ref();
    const settle = (alive: boolean) => {
      worker.off('message', reply).off('error', fail).off('exit', exited);
      this.running.delete(worker);
      if (alive) {
        worker.unref();
        this.idle.push(worker);
      }
      this.dispatch();
    };
    const reply = (message: FrameReply) => {
      if ('progress' in message) return task.progress?.(message.progress);
      settle(true);
      if ('result' in message) return task.resolve(message.result);
      const err = message.user ? new UserError(message.error) : new Error(message.error);
      if (!message.user) err.name = message.name;
      task.reject(err);
    };
    const fail = (err: Error) => {
      settle(false);
      task.reject(err);
    };
    const exited = (code: number) => fail(new Error(`a frame's worker thread stopped (exit status ${code})`));
    worker.on('message', reply).once('error', fail).once('exit', exited);
    worker.postMessage(task.job);
  }
}
