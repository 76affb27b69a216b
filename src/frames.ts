// A whole input as a sequence of .bin frames (docs/FORMAT.md): the input is cut into blocks at line ends, each
// block is coded by the model, by brotli, zstd or cm, or stored as it is, whichever is smallest, and the frames follow
// one another, then an end record. One model load serves every frame; `llmc` (and so run.sh) goes through here, the
// stage scripts through the same calls.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { refusing, UserError } from './cli.ts';
import { DEFAULT_LAYOUT, decodeExact, GaveUp, type GiveUp, rankTokens, unrankTokens } from './codec.ts';
import { type BinContents, decodeBin, decodeEnd, encodeEnd, END_BYTES, frameSize, isEnd, isModelFree, type Limits, ORIGINAL_HASH_BYTES, soloOf, StreamCheck, type StreamEnd } from './container.ts';
import { type Layout, lanesFor, type Mode, type RangedDoc, type TokensDoc } from './ir.ts';
import { DEFAULT_MIXER, type MixerSettings } from './mixer.ts';
import { DEFAULT_MODEL, type LanguageModel, loadModelFor, type ModelOptions } from './model.ts';
import { frameOfRange, onlyFrame, type Place, rangeDecode, rangeEncode, rangeOfFrame } from './range.ts';
import { bytesOfModelFreeFrame, modelFreeFrames } from './stored.ts';
import { sha256Prefix, tokensOfStr, tokensToStr } from './tokenize.ts';

/** How frames are coded: the coder, the layout fields a user may set, and the block size. */
export interface CodingOptions {
  coder: Mode;
  /** Context window in tokens (default: the model's). */
  window?: number;
  segment: number;
  batch: number;
  /** Largest block of input per frame, in bytes. */
  block: number;
  /** The exact coder's mixer (absent: the model alone). */
  mixer?: MixerSettings;
}

export const DEFAULT_BLOCK = 1 << 20;
/**
 * How much larger than the best model-free frame the first quarter of the model's frame may project it to be before
 * the model is given up on that block: the margin leaves the model room to learn the rest of the block.
 */
const GIVE_UP_RATIO = 1.5;
export const DEFAULT_CODING: CodingOptions = { coder: 'exact', segment: DEFAULT_LAYOUT.segmentLength, batch: DEFAULT_LAYOUT.batch, block: DEFAULT_BLOCK, mixer: DEFAULT_MIXER };

/** What became of one frame: its coder ('exact', 'rank', 'brotli', 'zstd', 'cm' or 'stored'), its sizes, and its tokens. */
export interface FrameReport {
  coder: string;
  bytes: number;
  frameBytes: number;
  tokens: number;
  escapedBytes: number;
  /** The model's frame was given up part way, projected far larger than the best model-free frame. */
  modelGivenUp?: boolean;
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

  /** The model, loaded once per graph; `firstCache`: the rows its first cache will have, if known (ModelOptions). */
  get(recorded: { modelName: string; graph?: string; dtype?: string } = { modelName: '' }, firstCache?: ModelOptions['firstCache']): Promise<LanguageModel> {
    const key = `${recorded.graph ?? ''}:${recorded.dtype ?? ''}`;
    if (!this.loaded.has(key)) this.loaded.set(key, this.load(recorded, firstCache));
    return this.loaded.get(key)!;
  }

  private async load(recorded: { modelName: string; graph?: string; dtype?: string }, firstCache?: ModelOptions['firstCache']): Promise<LanguageModel> {
    try {
      return await loadModelFor(recorded, this.name ?? DEFAULT_MODEL, { ...this.options, firstCache });
    } catch (err) {
      const device = this.options.device ?? 'cpu';
      if (err instanceof UserError || device === 'cpu') throw err;
      throw new UserError(`cannot run the model on ${device}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

/**
 * Codes an input block by block into the frames of one stream, then its end record. Each block becomes the
 * smallest of its model frame (not tried when more than half of it is not UTF-8 text, given up when its first quarter
 * projects it far larger than the best other), its brotli, zstd and cm frames and its stored frame, so no frame is
 * larger than the best of those coders' or the block itself, plus a header.
 * An input of one block becomes a whole file in one record where its frame allows (a solo record, docs/FORMAT.md).
 */
export class Compressor {
  private place?: Place;
  private length = 0;
  private solo = false;
  private readonly hash = createHash('sha256');

  constructor(private readonly models: Models, private readonly coding: CodingOptions) {}

  /** The frame of the next block; `last`: no block follows it. */
  async frame(block: Uint8Array, progress?: ByteProgress, last = false): Promise<{ frame: Uint8Array; report: FrameReport }> {
    const only = last && !this.place;
    const place: Place = this.place ? { ...this.place, frameIndex: this.place.frameIndex + 1 } : onlyFrame(sha256Prefix(block));
    this.place = place;
    this.length += block.length;
    this.hash.update(block);
    // A token is two bytes or more: fewer rows than this estimate are not split.
    const rows = this.coding.segment > 0 ? Math.ceil(block.length / (2 * this.coding.segment)) : 1;
    const model = await this.models.get(undefined, { rows: Math.min(rows, this.coding.batch), feeding: true });
    const doc = tokensOfStr(block, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
    const escapedBytes = doc.escapedBytes ?? 0;
    const candidates: { coder: string; frame: Uint8Array; tokens: number }[] = (await modelFreeFrames(block, place)).map((c) => ({ ...c, tokens: 0 }));
    let givenUp = false;
    if (2 * escapedBytes <= block.length) {
      const { coding } = this;
      const layout = { mode: coding.coder, contextwindow: coding.window ?? model.defaultWindow, topN: DEFAULT_LAYOUT.topN, precision: DEFAULT_LAYOUT.precision, segmentLength: coding.segment, batch: coding.batch, mixer: coding.mixer };
      const tokens = doc.tokenList.length;
      // The model's frame is given up once a quarter of it says it would be half again as large as the best other.
      const floor = Math.min(...candidates.map((c) => c.frame.length));
      const giveUp: GiveUp = (bits, done, total) => 4 * done >= total && (bits / 8) * (total / done) > GIVE_UP_RATIO * floor;
      try {
        const ranked = await rankTokens(doc, model, layout, progress && ((done) => progress((block.length * done) / Math.max(1, tokens))), coding.coder === 'exact' ? giveUp : undefined);
        candidates.push({ coder: coding.coder, frame: frameOfRange(rangeEncode(ranked), place), tokens });
      } catch (err) {
        if (!(err instanceof GaveUp)) throw err;
        givenUp = true;
        progress?.(block.length);
      }
    }
    // The smallest; on a tie the one listed last (the model's, then brotli's), as it is no larger.
    // Of a whole input in one block, the file is what counts: a solo record, or the frame and its end record.
    const sized = candidates.map((c) => {
      const solo = only ? soloOf(c.frame) : undefined;
      return { ...c, frame: solo ?? c.frame, solo: solo !== undefined, size: solo?.length ?? c.frame.length + (only ? END_BYTES : 0) };
    });
    const best = sized.reduce((a, b) => (b.size <= a.size ? b : a));
    this.solo = best.solo;
    return { frame: best.frame, report: { coder: best.coder, bytes: block.length, frameBytes: best.frame.length, tokens: best.tokens, escapedBytes, ...(givenUp ? { modelGivenUp: true } : {}) } };
  }

  /** The end record, after the last frame (an empty input is one empty frame); nothing after a solo record. */
  end(): Uint8Array {
    if (!this.place) throw new Error('Compressor.end before any frame');
    if (this.solo) return new Uint8Array(0);
    return encodeEnd({ streamId: this.place.streamId, frames: this.place.frameIndex + 1, length: this.length, sha256Prefix: this.hash.digest().subarray(0, ORIGINAL_HASH_BYTES) });
  }
}

/** A frame's report with the model it names, and the hex fingerprint (or the prefix a solo record keeps) of the one that coded it. */
export type ListedFrame = FrameReport & { modelName: string; fingerprint: string };

/** A frame checked in its place: its contents, its report, and for a model's frame its ranged document. */
interface Inspected {
  contents: BinContents;
  report: ListedFrame;
  doc?: RangedDoc;
}

/** What a record is, checked in its place in the stream, without the model: a frame, or (undefined) the end. */
function inspect(record: Uint8Array, check: StreamCheck, limits: Limits): Inspected | undefined {
  return refusing(() => {
    if (isEnd(record)) {
      check.end(decodeEnd(record));
      return undefined;
    }
    const contents = decodeBin(record, limits);
    check.frame(contents.header);
    if (isModelFree(contents.header.mode)) return { contents, report: { coder: contents.header.mode, bytes: contents.header.originalLength, frameBytes: record.length, tokens: 0, escapedBytes: 0, modelName: '', fingerprint: '' } };
    const doc = rangeOfFrame(contents);
    return { contents, doc, report: { coder: doc.mode, bytes: doc.byteLength, frameBytes: record.length, tokens: doc.length, escapedBytes: doc.escapedBytes ?? 0, modelName: doc.modelName, fingerprint: doc.modelFingerprint } };
  }, isEnd(record) ? '' : `frame ${check.count + 1}: `);
}

/**
 * Every frame of a stream checked in its place (not decoded), each handed to `onFrame` in turn: their reports, and
 * the end record's totals.
 */
export function describeStream(records: Iterable<Uint8Array>, limits: Limits, onFrame?: (contents: BinContents) => void): { reports: ListedFrame[]; end: StreamEnd } {
  const check = new StreamCheck();
  const reports: ListedFrame[] = [];
  for (const record of records) {
    const frame = inspect(record, check, limits);
    if (frame) {
      onFrame?.(frame.contents);
      reports.push(frame.report);
    }
  }
  return { reports, end: refusing(() => check.finish()) };
}

/**
 * Decodes a stream record by record: each frame's bytes as it comes (checked against the frame's length and hash),
 * and at the end the whole against the end record's count, length and hash.
 */
export class Decompressor {
  private readonly check = new StreamCheck();
  private readonly hash = createHash('sha256');

  constructor(private readonly models: Models, private readonly limits: Limits) {}

  /** A frame's bytes with its report, or undefined for the end record. */
  async record(record: Uint8Array, progress?: ByteProgress): Promise<{ bytes: Uint8Array; report: FrameReport } | undefined> {
    const frame = inspect(record, this.check, this.limits);
    if (!frame) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = await this.decode(frame, progress);
    } catch (err) {
      throw new UserError(`frame ${this.check.count}: ${(err as Error).message}`);
    }
    this.hash.update(bytes);
    return { bytes, report: frame.report };
  }

  private async decode({ contents, doc }: Inspected, progress?: ByteProgress): Promise<Uint8Array> {
    if (!doc) return bytesOfModelFreeFrame(contents);
    const model = await this.models.get(doc, { rows: lanesFor(doc.length, doc), feeding: false });
    const tokenProgress = progress && ((done: number) => progress((doc.byteLength * done) / Math.max(1, doc.length)));
    const tokens = doc.mode === 'exact' ? await decodeExact(doc, model, tokenProgress) : await unrankTokens(rangeDecode(doc) as TokensDoc & Layout, model, tokenProgress);
    return tokensToStr(tokens, model.tokenizer, model.vocabulary);
  }

  /** Checks that the stream ended with its end record, and that the whole matches its hash. */
  finish(): void {
    const end = refusing(() => this.check.finish());
    if (!Buffer.from(this.hash.digest().subarray(0, end.sha256Prefix.length)).equals(end.sha256Prefix)) {
      throw new UserError('corrupt .bin file: the decoded whole does not match the end record\'s hash (frames from another file?)');
    }
  }
}

/** Reads a file descriptor to its end in blocks of at most `size` bytes, each cut after its last line end when it has one. */
export function* blocksOf(fd: number, size: number): Generator<Uint8Array> {
  let pending = Buffer.alloc(0);
  let ended = false;
  for (;;) {
    while (!ended && pending.length <= size) {
      const chunk = Buffer.alloc(Math.max(size, 1 << 16));
      const n = readAll(fd, chunk);
      if (n === 0) ended = true;
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
    }
    // Only the input's end leaves a block this short: the last one (an empty input is one empty block).
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
 * Reads the records (frames, end record) of a .bin one at a time from a file descriptor, by their length fields,
 * so that memory holds one frame, and never more than `limits` allow; each is then checked in full. Past the last
 * it returns undefined.
 */
export class FrameReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private count = 0;
  /** Bytes of the records handed out so far. */
  bytesRead = 0;
  constructor(private readonly fd: number, private readonly limits: Limits) {}

  *[Symbol.iterator](): Generator<Uint8Array> {
    for (let record = this.next(); record; record = this.next()) yield record;
  }

  next(): Uint8Array | undefined {
    for (;;) {
      if (this.buffer.length === 0 && this.ended) return undefined;
      const size = refusing(() => frameSize(this.buffer, this.limits), `frame ${this.count + 1}: `);
      if (size.complete || this.ended) {
        // An incomplete frame at the end is handed on whole: decodeBin says where it was cut.
        const length = size.complete ? size.bytes : this.buffer.length;
        const frame = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        this.count++;
        this.bytesRead += length;
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
