// A whole input as a sequence of .bin frames (docs/FORMAT.md): the input is cut into blocks at line ends, each
// block is coded by the model or stored as it is when that is smaller, and the frames follow one another. One
// model load serves every frame; `llmc` and run.sh go through here, the stage scripts through the same calls.
import { readSync } from 'node:fs';
import { UserError } from './cli.ts';
import { DEFAULT_LAYOUT, decodeExact, rankTokens, unrankTokens } from './codec.ts';
import { decodeBin, frameSize } from './container.ts';
import type { Layout, Mode, TokensDoc } from './ir.ts';
import { DEFAULT_MODEL, type LanguageModel, loadByteVocabulary, loadModelFor, type ModelOptions } from './model.ts';
import { binOfRange, binToRange, rangeDecode, rangeEncode } from './range.ts';
import { bytesOfStoredFrame, storedFrame } from './stored.ts';
import { tokensOfStr, tokensToStr } from './tokenize.ts';

/** How frames are coded: the coder, the layout fields a user may set, and the block size. */
export interface CodingOptions {
  coder: Mode;
  /** Context window in tokens (default: the model's). */
  window?: number;
  segment: number;
  batch: number;
  /** Largest block of input per frame, in bytes. */
  block: number;
}

export const DEFAULT_BLOCK = 1 << 20;
export const DEFAULT_CODING: CodingOptions = { coder: 'exact', segment: DEFAULT_LAYOUT.segmentLength, batch: DEFAULT_LAYOUT.batch, block: DEFAULT_BLOCK };

/** What became of one frame: its coder ('exact', 'rank' or 'stored'), its sizes, and its tokens. */
export interface FrameReport {
  coder: string;
  bytes: number;
  frameBytes: number;
  tokens: number;
  escapedBytes: number;
}

/** Bytes of the input done so far, within a frame's work, for a progress bar. */
export type ByteProgress = (bytesDone: number) => void;

/**
 * The model a user named, or the default (never one a file names), loaded once per graph the frames need. The
 * decoder takes the graph a frame records; the encoder the one asked for.
 */
export class Models {
  private readonly loaded = new Map<string, Promise<LanguageModel>>();
  constructor(private readonly name: string | undefined, private readonly options: ModelOptions) {}

  get(recorded: { modelName: string; graph?: string; dtype?: string } = { modelName: '' }): Promise<LanguageModel> {
    const key = `${recorded.graph ?? ''}:${recorded.dtype ?? ''}`;
    if (!this.loaded.has(key)) this.loaded.set(key, this.load(recorded));
    return this.loaded.get(key)!;
  }

  private async load(recorded: { modelName: string; graph?: string; dtype?: string }): Promise<LanguageModel> {
    try {
      return await loadModelFor(recorded, this.name ?? DEFAULT_MODEL, this.options);
    } catch (err) {
      const device = this.options.device ?? 'cpu';
      if (err instanceof UserError || device === 'cpu') throw err;
      throw new UserError(`cannot run the model on ${device}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

/**
 * Codes one block into a frame: by the model, unless more than half of it is not UTF-8 text, or the coded frame
 * would be larger than the block stored as it is.
 */
export async function encodeFrame(block: Uint8Array, models: Models, coding: CodingOptions, progress?: ByteProgress): Promise<{ frame: Uint8Array; report: FrameReport }> {
  const stored = storedFrame(block);
  const storedReport = (escapedBytes: number) => ({ frame: stored, report: { coder: 'stored', bytes: block.length, frameBytes: stored.length, tokens: 0, escapedBytes } });
  const model = await models.get();
  const doc = tokensOfStr(block, model.tokenizer, loadByteVocabulary(model.dir), { modelName: model.name, vocabSize: model.vocabSize });
  const escapedBytes = doc.escapedBytes ?? 0;
  if (2 * escapedBytes > block.length) return storedReport(escapedBytes);
  const layout = { mode: coding.coder, contextwindow: coding.window ?? model.defaultWindow, topN: DEFAULT_LAYOUT.topN, precision: DEFAULT_LAYOUT.precision, segmentLength: coding.segment, batch: coding.batch };
  const tokens = doc.tokenList.length;
  const ranked = await rankTokens(doc, model, layout, progress && ((done) => progress((block.length * done) / Math.max(1, tokens))));
  const frame = binOfRange(rangeEncode(ranked));
  if (frame.length > stored.length) return storedReport(escapedBytes);
  return { frame, report: { coder: coding.coder, bytes: block.length, frameBytes: frame.length, tokens, escapedBytes } };
}

/** The original bytes of one frame, checked against its length and hash. */
export async function decodeFrame(frame: Uint8Array, models: Models, progress?: ByteProgress): Promise<Uint8Array> {
  const { header } = decodeRefusing(frame);
  if (header.mode === 'stored') return bytesOfStoredFrame(frame);
  const doc = binToRange(frame);
  const model = await models.get(doc);
  const tokenProgress = progress && ((done: number) => progress((doc.byteLength * done) / Math.max(1, doc.length)));
  const tokens = doc.mode === 'exact' ? await decodeExact(doc, model, tokenProgress) : await unrankTokens(rangeDecode(doc) as TokensDoc & Layout, model, tokenProgress);
  return tokensToStr(tokens, model.tokenizer, loadByteVocabulary(model.dir));
}

function decodeRefusing(frame: Uint8Array) {
  try {
    return decodeBin(frame);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

/** The header fields a listing shows, read from a frame without the model. */
export function describeFrame(frame: Uint8Array): FrameReport & { modelName: string; layout?: Partial<Layout> } {
  const { header } = decodeRefusing(frame);
  if (header.mode === 'stored') return { coder: 'stored', bytes: header.originalLength, frameBytes: frame.length, tokens: 0, escapedBytes: 0, modelName: '' };
  const doc = binToRange(frame);
  return { coder: doc.mode, bytes: doc.byteLength, frameBytes: frame.length, tokens: doc.length, escapedBytes: doc.escapedBytes ?? 0, modelName: doc.modelName, layout: doc };
}

/** Reads a file descriptor to its end in blocks of at most `size` bytes, each cut after its last line end when it has one. */
export function* blocksOf(fd: number, size: number): Generator<Uint8Array> {
  let pending = Buffer.alloc(0);
  let ended = false;
  let first = true;
  while (!ended || pending.length > 0 || first) {
    first = false;
    while (!ended && pending.length <= size) {
      const chunk = Buffer.alloc(Math.max(size, 1 << 16));
      const n = readAll(fd, chunk);
      if (n === 0) ended = true;
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
    }
    if (pending.length <= size) {
      yield pending;
      return;
    }
    const cut = blockEnd(pending, size);
    yield pending.subarray(0, cut);
    pending = pending.subarray(cut);
  }
}

/** Where a block of at most `size` bytes ends: after its last line end, else before a UTF-8 character it would split. */
function blockEnd(bytes: Uint8Array, size: number): number {
  const newline = bytes.lastIndexOf(0x0a, size - 1);
  if (newline >= 0) return newline + 1;
  let cut = size;
  for (let back = 0; back < 3 && cut > 1 && (bytes[cut] & 0xc0) === 0x80; back++) cut--;
  return (bytes[cut] & 0xc0) === 0x80 ? size : cut;
}

/** One read, retried on EAGAIN (a non-blocking stdin), 0 at the end. */
function readAll(fd: number, into: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, into, 0, into.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') return 0;
      throw new UserError(`cannot read the input: ${code ?? (err as Error).message}`);
    }
  }
}

/**
 * Reads the frames of a .bin one at a time from a file descriptor, by their length fields, so that memory holds
 * one frame; each is then checked in full by decodeBin. Past the last frame it returns undefined.
 */
export class FrameReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly fd: number) {}

  next(): Uint8Array | undefined {
    for (;;) {
      if (this.buffer.length === 0 && this.ended) return undefined;
      const size = frameSize(this.buffer);
      if (size.complete || this.ended) {
        // An incomplete frame at the end is handed on whole: decodeBin says where it was cut.
        const length = size.complete ? size.bytes : this.buffer.length;
        const frame = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        return frame;
      }
      this.fill(size.bytes);
    }
  }

  /** Reads until the buffer holds `bytes`, or the input ends. */
  private fill(bytes: number): void {
    const chunk = Buffer.alloc(Math.max(1 << 16, bytes - this.buffer.length));
    const n = readAll(this.fd, chunk);
    if (n === 0) this.ended = true;
    this.buffer = Buffer.concat([this.buffer, chunk.subarray(0, n)]);
  }
}
