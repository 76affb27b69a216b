// Frames coded side by side, one a worker thread: each worker loads the model (on a GPU, its own stream of the
// kernels) and codes a whole frame at a time, the mixer and the floor coders (brotli, zstd, cm) included, so
// frames use the cores and the GPU together. On a GPU a worker may decode several frames at once, their rows in one
// step (decodeExactMany), and a block's steps are split between two sets of workers (GpuFrames). Frames are
// independent: the bytes are those of one thread.
import type { Worker } from 'node:worker_threads';
import { UserError } from './cli.ts';
import type { Limits } from './container.ts';
import { type BlockSteps, type ByteProgress, type Candidate, type CodedBlock, codeBlock, type CodingOptions, type FrameCoder, type ModelTry } from './frames.ts';
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

type EncodeJob = { type: 'encode'; block: Uint8Array; place: Place; only: boolean };
/** One of a block's steps (BlockSteps): the model-free trials, or the model's or cm's frame under a ceiling. */
type StepJob = { type: 'classical'; block: Uint8Array; place: Place } | { type: 'model'; block: Uint8Array; place: Place; ceiling: number } | { type: 'cm'; block: Uint8Array; place: Place; ceiling: number };
/** A worker's one job at a time: a block to encode, one of its steps, or frames to decode together. */
export type FrameJob = EncodeJob | StepJob | { type: 'decode'; records: Uint8Array[] };
/** An error as it crosses threads. */
export interface Failure { error: string; name: string; user: boolean }
/** A worker's messages back: progress (bytes of the job's `index`-th frame), then a result, each frame's, or an error. */
export type FrameReply = { progress: number; index: number } | { result: CodedBlock | Candidate[] | ModelTry | Candidate | undefined } | { results: (Uint8Array | Failure)[] } | Failure;

export const failureOf = (err: Error): Failure => ({ error: err.message, name: err.name, user: err instanceof UserError });

function errorOf(failure: Failure): Error {
  const err = failure.user ? new UserError(failure.error) : new Error(failure.error);
  if (!failure.user) err.name = failure.name;
  return err;
}

/** The rows a task's frame steps at once: 0 for a block to encode, a frame without the model, or no task. */
const rowsOf = (task?: Task) => (task?.job.type === 'decode' ? task.job.rows : 0);

/** Whether a frame of `next` rows joins frames of `rows` rows in one walk: while at least half of its rows fit. */
const joins = (rows: number, next: number, rowsAtOnce: number) => rows > 0 && next > 0 && rows + next / 2 <= rowsAtOnce;

/** The frames of `rows` rows each that a worker takes at once by that rule: k while (k - 1)·rows + rows / 2 fits. */
export const framesAtOnce = (rows: number, rowsAtOnce: number) => Math.max(1, Math.round(rowsAtOnce / rows));

interface Task {
  job: EncodeJob | StepJob | { type: 'decode'; record: Uint8Array; rows: number };
  progress?: ByteProgress;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * Up to `count` workers, started as jobs come (worker i with `setup(i)`); jobs wait in order for the first free one,
 * which takes frames to decode together while their rows add up to at most `rowsAtOnce` (0: one at a time). Jobs
 * asked for in one turn of the event loop are dealt out together, so that they can be grouped.
 */
export class FrameWorkers implements FrameCoder {
  private readonly idle: Worker[] = [];
  private readonly running = new Set<Worker>();
  private readonly queue: Task[] = [];
  private started = 0;
  private dealing = false;

  constructor(private readonly count: number, private readonly setup: (index: number) => FrameSetup, private readonly rowsAtOnce = 0) {}

  encode(block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock> {
    return this.run({ type: 'encode', block, place, only }, progress) as Promise<CodedBlock>;
  }

  decode(record: Uint8Array, progress?: ByteProgress, rows = 0): Promise<Uint8Array> {
    return this.run({ type: 'decode', record, rows }, progress) as Promise<Uint8Array>;
  }

  /** A block's steps, each a job for the first free worker. */
  readonly steps: BlockSteps = {
    classical: (block, place) => this.run({ type: 'classical', block, place }) as Promise<Candidate[]>,
    model: (block, place, ceiling, progress) => this.run({ type: 'model', block, place, ceiling }, progress) as Promise<ModelTry>,
    cm: (block, place, ceiling) => this.run({ type: 'cm', block, place, ceiling }) as Promise<Candidate | undefined>,
  };

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

  private run(job: Task['job'], progress?: ByteProgress): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, progress, resolve, reject });
      this.dispatch();
    });
  }

  /** Deals the queue out once this turn's jobs are in it. */
  private dispatch(): void {
    if (this.dealing) return;
    this.dealing = true;
    setImmediate(() => {
      this.dealing = false;
      this.deal();
    });
  }

  private deal(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.running.size < this.count ? startThread(new URL('./frameWorker.ts', import.meta.url), this.setup(this.started++)) : undefined);
      if (!worker) return;
      const tasks = [this.queue.shift()!];
      // a model's frames go together (framesAtOnce of them, where their rows are alike)
      let rows = rowsOf(tasks[0]);
      while (joins(rows, rowsOf(this.queue[0]), this.rowsAtOnce)) {
        tasks.push(this.queue.shift()!);
        rows += rowsOf(tasks[tasks.length - 1]);
      }
      this.give(worker, tasks);
    }
  }

  /** Runs tasks on a worker (one to encode, or frames to decode together); an idle worker does not hold the process open. */
  private give(worker: Worker, tasks: Task[]): void {
    this.running.add(worker);
    worker.ref();
    const settle = (alive: boolean) => {
      worker.off('message', reply).off('error', fail).off('exit', exited);
      // a worker that close() took is ending: were it unref'd, close()'s wait on it would hold nothing open
      if (this.running.delete(worker) && alive) {
        worker.unref();
        this.idle.push(worker);
      }
      this.dispatch();
    };
    const reply = (message: FrameReply) => {
      if ('progress' in message) return tasks[message.index].progress?.(message.progress);
      settle(true);
      if ('result' in message) return tasks[0].resolve(message.result);
      if ('results' in message) {
        return message.results.forEach((result, i) => (result instanceof Uint8Array ? tasks[i].resolve(result) : tasks[i].reject(errorOf(result))));
      }
      for (const task of tasks) task.reject(errorOf(message));
    };
    const fail = (err: Error) => {
      settle(false);
      for (const task of tasks) task.reject(err);
    };
    const exited = (code: number) => fail(new Error(`a frame's worker thread stopped (exit status ${code})`));
    worker.on('message', reply).once('error', fail).once('exit', exited);
    const first = tasks[0].job;
    worker.postMessage(first.type === 'decode' ? ({ type: 'decode', records: tasks.map((task) => (task.job as { record: Uint8Array }).record) } satisfies FrameJob) : first);
  }
}

/**
 * Frames coded on a GPU: a block's model step (its tokens and the model's frame) on the GPU's workers, its model-free
 * trials (zstd, brotli, cm: 4-10 CPU seconds a MiB, bench/trials.ts) on workers of their own, one a core, that never
 * load the model. Were each GPU worker to code its whole block, as on the CPU, workers started together would stay in
 * step and leave the GPU idle through every round's trials; split, the trials of some blocks run while the GPU codes
 * others (BENCHMARKS.md, "Compressing on a GPU"). Decoding needs no trials.
 */
export class GpuFrames implements FrameCoder {
  private readonly steps: BlockSteps;
  constructor(private readonly gpu: FrameWorkers, private readonly trials: FrameWorkers) {
    this.steps = { classical: trials.steps.classical, model: gpu.steps.model, cm: trials.steps.cm };
  }

  encode(block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock> {
    return codeBlock(this.steps, block, place, only, progress);
  }

  decode(record: Uint8Array, progress?: ByteProgress, rows?: number): Promise<Uint8Array> {
    return this.gpu.decode(record, progress, rows);
  }

  async close(): Promise<void> {
    await Promise.all([this.gpu.close(), this.trials.close()]);
  }
}
