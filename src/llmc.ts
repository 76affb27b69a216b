// The `llmc` program: files in and out with gzip's manners (suffix, never a partial output, never binary to a
// terminal, exit 0 / 1 error / 2 warning), over the frames of src/frames.ts. It never looks inside a frame.
import { closeSync, existsSync, fstatSync, openSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { kb, Output, printable, progressBar, sameFile, UserError } from './cli.ts';
import type { Limits } from './container.ts';
import { blocksOf, type CodingOptions, Compressor, Decompressor, describeStream, type FrameReport, FrameReader, Models } from './frames.ts';
import { embeddedModelWith, type ModelOptions } from './model.ts';

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
    fd = openSync(file, 'r');
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
  if (input !== '-' && sameFile(path, input)) throw new UserError('refusing to overwrite the input');
  if (!options.force) throw new Warning(`${printable(path)} already exists: not overwritten (use -f)`);
}

/** What became of each frame of one file, and the .bin's size. */
interface Done {
  reports: FrameReport[];
  binBytes: number;
}

/** Compresses one input into frames and their end record (a solo record when it is one block). */
async function compressOne(fd: number, size: number, out: Output, models: Models, options: LlmcOptions, label: string): Promise<Done> {
  const reports: FrameReport[] = [];
  const compressor = new Compressor(models, options.coding);
  const bar = progressBar(label, options.quiet, kb);
  bar.update(0, size);
  let before = 0, binBytes = 0;
  const write = (bytes: Uint8Array) => {
    out.write(bytes);
    binBytes += bytes.length;
  };
  try {
    // One block read ahead: the coder must know whether a block is the input's last.
    const blocks = blocksOf(fd, options.coding.block);
    for (let next = blocks.next(); !next.done; ) {
      const block = next.value;
      next = blocks.next();
      const { frame, report } = await compressor.frame(block, (done) => bar.update(before + done, Math.max(size, before + block.length)), next.done);
      write(frame);
      reports.push(report);
      before += block.length;
      bar.update(before, Math.max(size, before));
    }
    write(compressor.end());
  } finally {
    bar.stop();
  }
  return { reports, binBytes };
}

/**
 * Decompresses one input, frame after frame. A file is read twice: first every frame is checked in its place
 * (so that a damaged, reordered, foreign or missing frame is refused before any work, and the bar knows the
 * total), then decoded; the whole is checked against the end record before the output is kept.
 */
async function decompressOne(input: { fd: number; size: number }, file: string, out: Output | undefined, models: Models, options: LlmcOptions, label: string): Promise<Done> {
  let total = 0;
  if (input.size > 0) {
    const fd = openSync(file, 'r');
    try {
      total = describeStream(new FrameReader(fd, options.limits), options.limits).end.length;
    } finally {
      closeSync(fd);
    }
  }
  const reports: FrameReport[] = [];
  const reader = new FrameReader(input.fd, options.limits);
  const decompressor = new Decompressor(models, options.limits);
  const bar = progressBar(label, options.quiet, kb);
  bar.update(0, total);
  let before = 0;
  try {
    for (let record = reader.next(); record; record = reader.next()) {
      const frame = await decompressor.record(record, (done) => bar.update(before + done, Math.max(total, before + done)));
      if (!frame) continue;
      out?.write(frame.bytes);
      reports.push(frame.report);
      before += frame.bytes.length;
      bar.update(before, Math.max(total, before));
    }
    decompressor.finish();
  } finally {
    bar.stop();
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

/** Runs llmc over its operands, printing one line per problem; returns the exit status. */
export async function llmc(options: LlmcOptions): Promise<number> {
  const files = options.files.length > 0 ? options.files : ['-'];
  if (options.output !== undefined && files.length > 1) throw new UserError('-o takes one input file');
  const models = new Models(options.model, options.modelOptions);
  let status = OK;
  if (options.action === 'list') process.stdout.write(`${LIST_HEADER}\n`);
  for (const file of files) {
    const name = file === '-' ? 'stdin' : printable(file);
    let out: Output | undefined;
    let input: ReturnType<typeof openInput> | undefined;
    try {
      const path = outputPath(file, options);
      checkOutput(path, file, options);
      input = openInput(file, options.action);
      if (options.action === 'list') {
        process.stdout.write(`${listOne(input.fd, name, options.limits)}\n`);
        continue;
      }
      const t0 = process.hrtime.bigint();
      out = options.action === 'test' ? undefined : new Output(path);
      const done = options.action === 'compress'
        ? await compressOne(input.fd, input.size, out!, models, options, name)
        : await decompressOne(input, file, out, models, options, name);
      out?.commit();
      out = undefined;
      if (options.remove && file !== '-' && options.action !== 'test') rmSync(file);
      if (options.verbose) process.stderr.write(`${summary(name, options.action, done, Number(process.hrtime.bigint() - t0) / 1e9)}\n`);
    } catch (err) {
      out?.discard();
      const warning = err instanceof Warning;
      const message = err instanceof UserError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
      process.stderr.write(`llmc: ${name}: ${message.split('\n')[0]}\n`);
      status = warning && status !== ERROR ? WARNING : ERROR;
    } finally {
      input?.close();
    }
  }
  return status;
}
