// The `llmc` program: files in and out with gzip's manners (suffix, never a partial output, never binary to a
// terminal, exit 0 / 1 error / 2 warning), over the frames of src/frames.ts. It never looks inside a frame.
import { closeSync, constants, existsSync, fstatSync, openSync, rmSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename } from 'node:path';
import { isInput, kb, Output, OutputClosed, printable, progressBar, UserError } from './cli.ts';
import type { Limits } from './container.ts';
import { blocksOf, type CodingOptions, Compressor, Decompressor, describeStream, type FrameCoder, type FrameReport, FrameReader, FramesHere, Models } from './frames.ts';
import { FrameWorkers, framesAtOnce, GpuFrames } from './frameWorkers.ts';
import { embeddedModelWith, type ModelOptions } from './model.ts';
import { engineAsked, nativeEngine } from './native.ts';

export const SUFFIX = '.bin';

export interface LlmcOptions {
  action: 'compress' | 'decompress' | 'test' | 'list';
  files: string[];
  /** Write to standard output (-c), or to this file (-o). */
  stdout: boolean;
  output?: string;
  force: boolean;
  /** Remove the input once its output is complete (the default keeps it, as zstd does). */
  remove: boolean;
  verbose: boolean;
  quiet: boolean;
  model?: string;
  modelOptions: ModelOptions;
  coding: CodingOptions;
  /** What a frame may claim (from --memory). */
  limits: Limits;
  /** Frames coded at once, each in a worker thread (0: as many as the file has, up to one a core, or 16 a GPU on the CUDA engine, as cores allow). */
  jobs: number;
  /** GPUs the CUDA engine deals frames to, worker i to GPU i mod gpus (0: every GPU the driver sees). */
  gpus: number;
}

/** Exit statuses, as gzip's. */
const OK = 0, ERROR = 1, WARNING = 2;

/** A problem with one file that lets the others go on (gzip's warnings: exit 2 at the end). */
class Warning extends UserError {}

/** The input of one file operand ('-' is standard input): its descriptor, and its size when it is a regular file. */
function openInput(file: string, action: LlmcOptions['action']): { fd: number; size: number; close(): void } {
  if (file === '-') {
    if (action !== 'compress' && process.stdin.isTTY) throw new UserError('compressed data not read from a terminal (give a file, or pipe it in)');
    return { fd: 0, size: 0, close() {} };
  }
  let fd: number;
  try {
    // without waiting: opening a FIFO for reading would block until a writer came, before fstat could refuse it
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new UserError(`cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw new Warning('not a regular file: ignored');
  }
  return { fd, size: stat.size, close: () => closeSync(fd) };
}

/** The output file an operand gets (undefined: standard output), refusing names gzip would refuse. */
function outputPath(file: string, options: LlmcOptions): string | undefined {
  if (options.output !== undefined) return options.output === '-' ? undefined : options.output;
  if (options.stdout || file === '-' || options.action === 'test' || options.action === 'list') return undefined;
  if (options.action === 'compress') {
    if (file.endsWith(SUFFIX)) throw new Warning(`already has the ${SUFFIX} suffix: unchanged`);
    return file + SUFFIX;
  }
  if (!file.endsWith(SUFFIX) || basename(file) === SUFFIX) throw new Warning(`unknown suffix, expected ${SUFFIX}: ignored`);
  return file.slice(0, -SUFFIX.length);
}

function checkOutput(path: string | undefined, input: string, options: LlmcOptions): void {
  if (path === undefined) {
    if (options.action === 'compress' && process.stdout.isTTY && !options.force) {
      throw new UserError('compressed data not written to a terminal (use -f to force, or -o FILE)');
    }
    return;
  }
  if (!existsSync(path)) return;
  if (isInput(path, input)) throw new UserError('refusing to overwrite the input');
  if (!options.force) throw new Warning(`${printable(path)} already exists: not overwritten (use -f)`);
}

/** What became of each frame of one file, and the .bin's size. */
interface Done {
  reports: FrameReport[];
  binBytes: number;
}

/**
 * Frames on their way, at most `jobs` at once: each result is handed to `take` in the order the frames were started,
 * so memory holds `jobs` frames and the output is what one at a time would write.
 */
class InFlight<T> {
  private readonly pending: Promise<T>[] = [];
  constructor(private readonly jobs: number, private readonly take: (value: T) => void) {}

  /** Starts one more; first waits for the oldest when `jobs` are under way. */
  async add(started: Promise<T>): Promise<void> {
    started.catch(() => {});  // its failure is reported when its turn comes
    this.pending.push(started);
    while (this.pending.length >= this.jobs) this.take(await this.pending.shift()!);
  }

  async drain(): Promise<void> {
    while (this.pending.length > 0) this.take(await this.pending.shift()!);
  }
}

/** A progress bar's count over frames under way at once: what each has done so far, summed. */
function sharedProgress(update: (done: number) => void): () => (frameDone: number) => void {
  let done = 0;
  return () => {
    let mine = 0;
    return (frameDone) => {
      done += frameDone - mine;
      mine = frameDone;
      update(done);
    };
  };
}

/**
 * What codes a file's frames, for the number of frames it has and the most rows a frame's decoder steps, when known:
 * `jobs` workers decoding `together` frames each, and `blocks` compressed at once (more than `jobs` where a block's
 * steps run apart: GpuFrames).
 */
type CoderFor = (frames: number | undefined, rows?: number) => { coder: FrameCoder; jobs: number; together: number; blocks: number };

/** Compresses one input into frames and their end record (a solo record when it is one block). */
async function compressOne(fd: number, size: number, out: Output, coderFor: CoderFor, options: LlmcOptions, label: string): Promise<Done> {
  const reports: FrameReport[] = [];
  const { coder, blocks } = coderFor(size > 0 ? Math.ceil(size / options.coding.block) : undefined);
  const compressor = new Compressor(coder);
  const bar = progressBar(label, options.quiet, kb);
  bar.update(0, size);
  let read = 0, binBytes = 0;
  const write = (bytes: Uint8Array) => {
    out.write(bytes);
    binBytes += bytes.length;
  };
  const progress = sharedProgress((done) => bar.update(done, Math.max(size, read)));
  const inFlight = new InFlight<{ frame: Uint8Array; report: FrameReport }>(blocks, ({ frame, report }) => {
    write(frame);
    reports.push(report);
  });
  try {
    // One block read ahead: the coder must know whether a block is the input's last.
    const blocks = blocksOf(fd, options.coding.block);
    for (let next = blocks.next(); !next.done; ) {
      const block = next.value;
      next = blocks.next();
      read += block.length;
      const frameProgress = progress();
      await inFlight.add(compressor.frame(block, frameProgress, next.done).then((coded) => (frameProgress(block.length), coded)));
    }
    await inFlight.drain();
    write(compressor.end());
  } finally {
    bar.stop();
    // frames still under way after a failure are dropped
    await coder.close();
  }
  return { reports, binBytes };
}

/**
 * Decompresses one input, frame after frame. A file is read twice: first every frame is checked in its place
 * (so that a damaged, reordered, foreign or missing frame is refused before any work, and the bar knows the
 * total), then decoded; the whole is checked against the end record before the output is kept.
 */
async function decompressOne(input: { fd: number; size: number }, file: string, out: Output | undefined, coderFor: CoderFor, options: LlmcOptions, label: string): Promise<Done> {
  let total = 0, frames: number | undefined, rows = 0;
  if (input.size > 0) {
    const fd = openSync(file, 'r');
    try {
      const described = describeStream(new FrameReader(fd, options.limits), options.limits);
      total = described.end.length;
      frames = described.reports.length;
      rows = Math.max(0, ...described.reports.map((r) => r.rows));
    } finally {
      closeSync(fd);
    }
  }
  const reports: FrameReport[] = [];
  const reader = new FrameReader(input.fd, options.limits);
  const { coder, jobs, together } = coderFor(frames, rows);
  const decompressor = new Decompressor(coder, options.limits);
  const bar = progressBar(label, options.quiet, kb);
  bar.update(0, total);
  const progress = sharedProgress((done) => bar.update(done, Math.max(total, done)));
  const inFlight = new InFlight<{ bytes: Uint8Array; report: FrameReport } | undefined>(jobs * together, (frame) => {
    if (!frame) return;
    out?.write(frame.bytes);
    reports.push(frame.report);
  });
  try {
    for (let record = reader.next(); record; record = reader.next()) {
      const frameProgress = progress();
      await inFlight.add(decompressor.record(record, frameProgress).then((frame) => (frame && frameProgress(frame.bytes.length), frame)));
    }
    await inFlight.drain();
    await decompressor.finish();
  } finally {
    bar.stop();
    await coder.close();
  }
  return { reports, binBytes: reader.bytesRead };
}
const ratio = (from: number, to: number) => `${(from ? (100 * to) / from : 0).toFixed(2)}%`;
const bitsPerByte = (original: number, compressed: number) => (original ? (8 * compressed) / original : 0).toFixed(3);

/** The summary line of -v, and each frame's coder. */
function summary(file: string, action: LlmcOptions['action'], { reports, binBytes: compressed }: Done, seconds: number): string {
  const original = reports.reduce((s, r) => s + r.bytes, 0);
  const coders = new Map<string, number>();
  for (const r of reports) coders.set(r.coder, (coders.get(r.coder) ?? 0) + 1);
  const escaped = reports.reduce((s, r) => s + r.escapedBytes, 0);
  const givenUp = reports.filter((r) => r.modelGivenUp).length;
  const frames = `${reports.length} frame${reports.length === 1 ? '' : 's'} (${[...coders].map(([c, n]) => `${c} ${n}`).join(', ')}${givenUp ? `; the model given up on ${givenUp}` : ''})${escaped ? `, ${escaped} bytes escaped as byte tokens (not UTF-8 text)` : ''}`;
  const sizes = action === 'compress' ? `${original} -> ${compressed} bytes` : `${compressed} -> ${original} bytes`;
  const head = `${file}: ${action === 'test' ? 'OK, ' : ''}${sizes} (${ratio(original, compressed)}, ${bitsPerByte(original, compressed)} bits/byte), ${frames}, ${seconds.toFixed(1)} s, ${kb(original / Math.max(seconds, 1e-3))}/s`;
  if (reports.length === 1) return head;
  const frame = (r: FrameReport) => (action === 'compress' ? `${r.bytes} -> ${r.frameBytes}` : `${r.frameBytes} -> ${r.bytes}`);
  return [head, ...reports.map((r, i) => `  frame ${i + 1}: ${frame(r)} bytes (${r.coder})`)].join('\n');
}

/** -l: what a .bin holds, from its headers alone (no model), every frame checked in its place. */
function listOne(fd: number, file: string, limits: Limits): string {
  const reader = new FrameReader(fd, limits);
  const { reports, end } = describeStream(reader, limits);
  const compressed = reader.bytesRead;
  // a solo record names no model: the shipped one whose fingerprint it matches, else the fingerprint's prefix
  const models = [...new Set(reports.map((r) => r.modelName || (r.fingerprint && (embeddedModelWith(r.fingerprint) ?? r.fingerprint))).filter(Boolean))].map(printable).join(',') || '-';
  const coders = [...new Set(reports.map((r) => r.coder))].join(',');
  return [compressed, end.length, ratio(end.length, compressed), bitsPerByte(end.length, compressed), reports.length, coders, models, file].join('\t');
}

export const LIST_HEADER = ['compressed', 'uncompressed', 'ratio', 'bits/byte', 'frames', 'coders', 'model', 'name'].join('\t');

/**
 * Frame workers a GPU keeps busy, as cores allow (bench/bigfile.sh -j, 50 MiB on one H200 and 16 cores): decoding
 * fills the GPU at 8, compressing gains to 16 (8 took 40.9 s against 38.0 with the trials on workers of their own).
 */
export const JOBS_PER_GPU = 16;
/**
 * The rows a GPU's worker steps at once when it decodes frames together: the more rows a step, the more tokens a second
 * (bench/gpusteps.ts: 8 workers of 512 rows give 10% more than of 256, 256 a third more than 128), and a 1 MiB frame of
 * text has 130 to 170 (segments of 2,048 tokens), so those go in fours (BENCHMARKS.md, "Frames decoded together").
 */
const GPU_STEP_ROWS = 600;
/** Memory a frame worker may take (its model, a frame's cache of up to 256 rows, cm's tables): a whole llmc process of one frame peaked at 1.1 GB (BENCHMARKS.md). */
const WORKER_MEMORY = 1.5 * 2 ** 30;
/**
 * GPU memory a frame worker may take, sized for the largest shipped model: with llmc-base-v3 on one H200
 * (bench/bigfile.sh, BENCHMARKS.md "GPU memory") a compressing worker took 3.1 GiB (16,384 predictions a call: their
 * logits and work buffers), a decoding worker 2.6 (frames in fours, about GPU_STEP_ROWS rows); with llmc-base-v7 (24
 * layers, a window of 512) 16 compressing workers took 59.4 GiB, 3.7 each ("Model v7"); the process's context adds
 * about 0.5 once.
 */
export const GPU_WORKER_MEMORY = 4.25 * 2 ** 30;

/**
 * The most frame workers to start: one a core, or JOBS_PER_GPU a GPU, as the host's memory and each GPU's free memory
 * allow (workers are dealt to GPUs in turn, so the GPU with the least free memory bounds them all); at least one.
 */
export function mostWorkers(cores: number, memory: number, gpuFree: number[]): number {
  const perGpu = Math.min(JOBS_PER_GPU, ...gpuFree.map((free) => Math.floor(free / GPU_WORKER_MEMORY)));
  return Math.max(1, Math.min(gpuFree.length > 0 ? gpuFree.length * perGpu : cores, cores, Math.floor(memory / WORKER_MEMORY)));
}

/** The GPUs the CUDA engine deals frames to (0: not the CUDA engine, or no GPU seen); more than the machine has is refused. */
function gpusFor(options: LlmcOptions): number {
  if (options.action === 'list' || engineAsked(options.modelOptions.engine) !== 'cuda') return 0;
  const seen = nativeEngine('cuda')!.cudaCount();
  if (options.gpus > seen) throw new UserError(`--gpus ${options.gpus}: this machine has ${seen} GPU${seen === 1 ? '' : 's'}`);
  return options.gpus || seen;
}

/**
 * What codes a file's frames: this thread, or workers, each a frame at a time (on a GPU, a decoder's frames of about
 * GPU_STEP_ROWS rows together). -j 0 takes as many as the file has frames (a pipe: one on the CPU), up to mostWorkers
 * (on the CPU each with its share of the cores as model threads: bench/bigfile.sh -j; on the CUDA engine worker i on
 * GPU i mod gpus).
 */
function frameCoder(options: LlmcOptions, models: Models, gpus: number, frames: number | undefined, rows = 0): ReturnType<CoderFor> {
  const cores = availableParallelism();
  const most = () => mostWorkers(cores, totalmem(), Array.from({ length: gpus }, (_, gpu) => nativeEngine('cuda')!.cudaFree(gpu)));
  // a pipe's frames are not known ahead: on the CPU it starts at once, with no worker (0.5 s less for a small input)
  const jobs = options.jobs || Math.min(most(), frames ?? (gpus > 0 ? Infinity : 1));
  const together = togetherFor(gpus, frames, rows);
  if (gpus === 0 && jobs <= 1 && together <= 1) return { coder: new FramesHere(models, options.coding, options.limits), jobs: 1, together, blocks: 1 };
  const threads = options.modelOptions.threads || Math.max(1, Math.floor(cores / jobs));
  const setup = (i: number) => ({ model: options.model, modelOptions: { ...options.modelOptions, threads, gpu: gpus > 0 ? i % gpus : 0 }, coding: options.coding, limits: options.limits });
  if (gpus === 0) return { coder: new FrameWorkers(jobs, setup, 0), jobs, together, blocks: jobs };
  // the trials' workers never load the model: one a core, as the memory left by the GPU's workers allows
  const trials = Math.max(1, Math.min(cores, Math.floor(totalmem() / WORKER_MEMORY) - jobs));
  return { coder: new GpuFrames(new FrameWorkers(jobs, setup, GPU_STEP_ROWS), new FrameWorkers(trials, setup)), jobs, together, blocks: jobs + trials };
}

/** The frames a worker on a GPU decodes at once, for a file's frames of at most `rows` rows each (1 elsewhere). */
const togetherFor = (gpus: number, frames: number | undefined, rows: number) => (gpus > 0 && frames && rows > 0 ? Math.min(64, frames, framesAtOnce(rows, GPU_STEP_ROWS)) : 1);

/** Files a GPU codes at once when several are given. */
const FILES_AT_ONCE = 64;

/** The exit status of two outcomes together: an error over a warning over success. */
const worse = (a: number, b: number) => (a === ERROR || b === ERROR ? ERROR : a === WARNING || b === WARNING ? WARNING : OK);

/**
 * Several files coded on a GPU into files of their own (standard output keeps the operands' order, so it takes them
 * one by one): up to FILES_AT_ONCE at once through one set of workers, so that small files keep the workers busy and
 * their frames fill a decoding step together. One progress bar a file would fight over the terminal, so there are
 * none. The CPU takes files one by one: a file's rows already spread over the cores, and workers of their own cost
 * more than they gained on two cores (BENCHMARKS.md, "Several files at once").
 */
async function codeFilesOnGpu(files: string[], options: LlmcOptions, models: Models, gpus: number): Promise<number> {
  const { coder, jobs, blocks } = frameCoder(options, models, gpus, undefined);
  const shared: FrameCoder = { encode: coder.encode.bind(coder), decode: coder.decode.bind(coder), close: async () => {} };
  const coderFor: CoderFor = (frames, rows) => ({ coder: shared, jobs, together: togetherFor(gpus, frames, rows ?? 0), blocks });
  const quiet = { ...options, quiet: true };
  let status = OK, next = 0;
  const lane = async () => {
    while (next < files.length) {
      const done = await llmcOne(files[next++], quiet, coderFor);
      status = worse(status, done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(FILES_AT_ONCE, files.length) }, lane));
  } finally {
    await coder.close();
  }
  return status;
}

/** Runs llmc over its operands, printing one line per problem; returns the exit status. */
export async function llmc(options: LlmcOptions): Promise<number> {
  const files = options.files.length > 0 ? options.files : ['-'];
  if (options.output !== undefined && files.length > 1) throw new UserError('-o takes one input file');
  const gpus = gpusFor(options);
  // one model load for every file coded in this thread
  const models = new Models(options.model, options.modelOptions);
  const coderFor: CoderFor = (frames, rows) => frameCoder(options, models, gpus, frames, rows);
  if (gpus > 0 && files.length > 1 && options.action !== 'list' && options.output === undefined && !options.stdout && !files.includes('-')) {
    return codeFilesOnGpu(files, options, models, gpus);
  }
  let status = OK;
  if (options.action === 'list') printLine(LIST_HEADER);
  for (const file of files) status = worse(status, await llmcOne(file, options, coderFor));
  return status;
}

/** A line of the listing on standard output, whose reader may be gone (EPIPE) or whose disk may be full: one line of error. */
const printLine = (line: string) => new Output(undefined).write(Buffer.from(`${line}\n`));

/** One operand; its exit status (OK, WARNING or ERROR), which callers combine with `worse`. */
async function llmcOne(file: string, options: LlmcOptions, coderFor: CoderFor): Promise<number> {
  const name = file === '-' ? 'stdin' : printable(file);
  let out: Output | undefined;
  let input: ReturnType<typeof openInput> | undefined;
  try {
    const path = outputPath(file, options);
    checkOutput(path, file, options);
    input = openInput(file, options.action);
    if (options.action === 'list') {
      printLine(listOne(input.fd, name, options.limits));
      return OK;
    }
    const t0 = process.hrtime.bigint();
    out = options.action === 'test' ? undefined : new Output(path);
    const done = options.action === 'compress'
      ? await compressOne(input.fd, input.size, out!, coderFor, options, name)
      : await decompressOne(input, file, out, coderFor, options, name);
    out?.commit();
    out = undefined;
    if (options.remove && file !== '-' && options.action !== 'test') rmSync(file);
    if (options.verbose) process.stderr.write(`${summary(name, options.action, done, Number(process.hrtime.bigint() - t0) / 1e9)}\n`);
  } catch (err) {
    out?.discard();
    // no reader is left for this file's output nor the next's: one line for them all (runCli's)
    if (err instanceof OutputClosed) throw err;
    const warning = err instanceof Warning;
    const message = err instanceof UserError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
    process.stderr.write(`llmc: ${name}: ${message.split('\n')[0]}\n`);
    return warning ? WARNING : ERROR;
  } finally {
    input?.close();
  }
  return OK;
}
