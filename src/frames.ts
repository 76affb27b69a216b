// A whole input as a sequence of .bin frames (docs/FORMAT.md): the input is cut into blocks at line ends, each
// block is coded by the model, by brotli, zstd or cm, or stored as it is, whichever is smallest, and the frames follow
// one another, then an end record. Frames are independent: they are coded here, one model load serving them all, or
// side by side in worker threads (src/frameWorkers.ts), with the same bytes. `llmc` (and so run.sh) goes through
// here, the stage scripts through the same calls.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { refusing, UserError } from './cli.ts';
import { cacheOfLayout, DEFAULT_LAYOUT, decodeExactMany, GaveUp, projectsAbove, rankTokens, unrankTokens, walksOnDevice } from './codec.ts';
import { type BinContents, decodeBin, decodeEnd, encodeEnd, END_BYTES, frameSize, isEnd, isModelFree, type Limits, ORIGINAL_HASH_BYTES, soloOf, StreamCheck, type StreamEnd, VERSION_AT } from './container.ts';
import { type Layout, lanesFor, type Mode, type RangedDoc, type TokensDoc } from './ir.ts';
import { DEFAULT_MIXER, type MixerSettings } from './mixer.ts';
import { type LanguageModel, loadModelFor, type ModelOptions, modelFor, type RecordedModel } from './model.ts';
import { frameOfRange, onlyFrame, type Place, rangeDecode, rangeEncode, rangeOfFrame } from './range.ts';
import { bytesOfModelFreeFrame, classicalFrames, cmFrame } from './stored.ts';
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
 * The model a user named, else the shipped model a frame was made with (modelFor: never a path or a host a file
 * names), else the default; loaded once per model and graph the frames need. The decoder takes the graph a frame
 * records; the encoder the one asked for.
 */
export class Models {
  private readonly loaded = new Map<string, Promise<LanguageModel>>();
  constructor(private readonly name: string | undefined, private readonly options: ModelOptions) {}

  /** The model, loaded once per model and graph; `firstCache`: the rows its first cache will have, if known (ModelOptions). */
  get(recorded: RecordedModel = { modelName: '' }, firstCache?: ModelOptions['firstCache']): Promise<LanguageModel> {
    const name = this.name ?? modelFor(recorded);
    const key = `${name}:${recorded.graph ?? ''}:${recorded.dtype ?? ''}`;
    if (!this.loaded.has(key)) this.loaded.set(key, this.load(name, recorded, firstCache));
    return this.loaded.get(key)!;
  }

  private async load(name: string, recorded: RecordedModel, firstCache?: ModelOptions['firstCache']): Promise<LanguageModel> {
    try {
      return await loadModelFor(recorded, name, { ...this.options, firstCache });
    } catch (err) {
      if (err instanceof UserError) throw err;
      const device = this.options.device ?? 'cpu';
      // a folder that is not a model (its config.json unreadable or of another kind), a hub id that cannot be fetched
      const where = device === 'cpu' ? `load the model ${name}` : `run the model on ${device}`;
      throw new UserError(`cannot ${where}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

/** A block coded: its frame (or solo record), and what became of it. */
export interface CodedBlock {
  frame: Uint8Array;
  report: FrameReport;
  /** The frame is a solo record: the whole input in one record, with no end record after it. */
  solo: boolean;
}

/**
 * What codes frames: in this thread (`FramesHere`), or in worker threads a frame each (src/frameWorkers.ts). Frames are
 * independent, so either gives the same bytes.
 */
export interface FrameCoder {
  /** The frame of a block at `place`; `only`: the block is the whole input. */
  encode(block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock>;
  /**
   * The bytes of a frame (a record that is not the end record), checked against its length and hash; `rows`: the rows
   * its decoder steps at once (ListedFrame), by which workers on a GPU group frames.
   */
  decode(record: Uint8Array, progress?: ByteProgress, rows?: number): Promise<Uint8Array>;
  /** Lets go of what it holds (worker threads). */
  close(): Promise<void>;
}

/** Frames coded in this thread, with one model load for them all. */
export class FramesHere implements FrameCoder {
  readonly steps: BlockSteps;
  constructor(private readonly models: Models, coding: CodingOptions, private readonly limits: Limits) {
    this.steps = stepsHere(models, coding, limits);
  }

  encode(block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock> {
    return codeBlock(this.steps, block, place, only, progress);
  }

  async decode(record: Uint8Array, progress?: ByteProgress): Promise<Uint8Array> {
    const [bytes] = await this.decodeMany([record], [progress]);
    if (bytes instanceof Error) throw bytes;
    return bytes;
  }

  /** Several frames' bytes, or why each could not be had: on a GPU their rows step together (decodeExactMany). */
  async decodeMany(records: Uint8Array[], progress: (ByteProgress | undefined)[]): Promise<(Uint8Array | Error)[]> {
    const frames = records.map((record) => {
      try {
        return framed(record, this.limits);
      } catch (err) {
        return err as Error;
      }
    });
    return decodeFrames(this.models, frames, this.limits, progress);
  }

  async close(): Promise<void> {}
}

/** A block coded one way: its coder, its frame, and its tokens (the model's; 0 for the others). */
export interface Candidate {
  coder: string;
  frame: Uint8Array;
  tokens: number;
}

/** The model's try at a block: its frame (none when the block is not text, or given up), and the bytes escaped as byte tokens. */
export interface ModelTry {
  candidate?: Candidate;
  escapedBytes: number;
  givenUp: boolean;
}

/**
 * The three parts of coding a block, which a frame coder may run where it likes: the trials that need no model
 * (stored, zstd, brotli), the model's frame given up above `ceiling` bytes, and cm's likewise. codeBlock puts them
 * together the same way everywhere, so a block's frame is the same whoever runs them.
 */
export interface BlockSteps {
  classical(block: Uint8Array, place: Place): Promise<Candidate[]>;
  model(block: Uint8Array, place: Place, ceiling: number, progress?: ByteProgress): Promise<ModelTry>;
  cm(block: Uint8Array, place: Place, ceiling: number): Promise<Candidate | undefined>;
}

/**
 * How much larger than the best frame so far the first quarter of the model's frame (or cm's) may project it to be
 * before that coder is given up on the block: the margin leaves it room to learn the rest of the block.
 */
const GIVE_UP_RATIO = 1.5;
const ceilingOf = (tried: (Candidate | undefined)[]) => GIVE_UP_RATIO * Math.min(...tried.filter((c) => c !== undefined).map((c) => c.frame.length));

/** The steps of a block, each in this thread. */
export function stepsHere(models: Models, coding: CodingOptions, limits: Limits): BlockSteps {
  return {
    classical: async (block, place) => (await classicalFrames(block, place)).map((c) => ({ ...c, tokens: 0 })),
    model: (block, place, ceiling, progress) => modelTry(models, coding, limits, block, place, ceiling, progress),
    cm: async (block, place, ceiling) => {
      const frame = cmFrame(block, place, ceiling);
      return frame && { coder: 'cm', frame, tokens: 0 };
    },
  };
}

/** The layout a block's model frame is coded with: `coding`'s fields, the model's window unless one is given. */
export function layoutOf(coding: CodingOptions, model: Pick<LanguageModel, 'defaultWindow'>): Omit<Layout, 'dtype' | 'lanes'> {
  return { mode: coding.coder, contextwindow: coding.window ?? model.defaultWindow, topN: DEFAULT_LAYOUT.topN, precision: DEFAULT_LAYOUT.precision, segmentLength: coding.segment, batch: coding.batch, mixer: coding.mixer };
}

/** The model's frame of a block (not tried when more than half of it is not UTF-8 text), given up when its first quarter projects it above `ceiling` bytes. */
async function modelTry(models: Models, coding: CodingOptions, limits: Limits, block: Uint8Array, place: Place, ceiling: number, progress?: ByteProgress): Promise<ModelTry> {
  // A token is two bytes or more: fewer rows than this estimate are not split.
  const rows = coding.segment > 0 ? Math.ceil(block.length / (2 * coding.segment)) : 1;
  const model = await models.get(undefined, { rows: Math.min(rows, coding.batch), feeding: true });
  const doc = tokensOfStr(block, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
  const escapedBytes = doc.escapedBytes ?? 0;
  if (2 * escapedBytes > block.length) return { escapedBytes, givenUp: false };
  const layout = layoutOf(coding, model);
  const tokens = doc.tokenList.length;
  const cache = cacheOfLayout(tokens, layout, model);
  if (cache > limits.memory) throw new UserError(`--batch ${coding.batch} with --segment ${coding.segment}: a frame of this input would need ${cache} bytes of model cache to decode, more than --memory allows (raise --memory, lower --batch or raise --segment)`);
  try {
    const ranked = await rankTokens(doc, model, layout, progress && ((done) => progress((block.length * done) / Math.max(1, tokens))), coding.coder === 'exact' ? projectsAbove(ceiling) : undefined);
    return { candidate: { coder: coding.coder, frame: frameOfRange(rangeEncode(ranked), place), tokens }, escapedBytes, givenUp: false };
  } catch (err) {
    if (!(err instanceof GaveUp)) throw err;
    progress?.(block.length);
    return { escapedBytes, givenUp: true };
  }
}

/**
 * A block's frame: the smallest of its stored, zstd and brotli frames, then its model frame (given up when its first
 * quarter projects it far larger than the best of those), then its cm frame (given up likewise against the best so
 * far: on text the model codes well, after a quarter of its time), so no frame is larger than the best of those
 * coders' or the block itself, plus a header. A block that is the whole input becomes a whole file in one record
 * where its frame allows (a solo record, docs/FORMAT.md).
 */
export async function codeBlock(steps: BlockSteps, block: Uint8Array, place: Place, only: boolean, progress?: ByteProgress): Promise<CodedBlock> {
  const [stored, ...classical] = await steps.classical(block, place);
  const { candidate: model, escapedBytes, givenUp } = await steps.model(block, place, ceilingOf([stored, ...classical]), progress);
  const cm = await steps.cm(block, place, ceilingOf([stored, ...classical, model]));
  // In the order a tie is settled: stored, cm (the slowest to decode), zstd, brotli (which needs nothing beyond Node),
  // the model's. The smallest wins; on a tie the one listed last, as it is no larger.
  const candidates = [stored, ...(cm ? [cm] : []), ...classical, ...(model ? [model] : [])];
  // Of a whole input in one block, the file is what counts: a solo record, or the frame and its end record.
  const sized = candidates.map((c) => {
    const solo = only ? soloOf(c.frame) : undefined;
    return { ...c, frame: solo ?? c.frame, solo: solo !== undefined, size: solo?.length ?? c.frame.length + (only ? END_BYTES : 0) };
  });
  const best = sized.reduce((a, b) => (b.size <= a.size ? b : a));
  return { frame: best.frame, solo: best.solo, report: { coder: best.coder, bytes: block.length, frameBytes: best.frame.length, tokens: best.tokens, escapedBytes, ...(givenUp ? { modelGivenUp: true } : {}) } };
}

/**
 * Codes an input block by block into the frames of one stream, then its end record (codeBlock says how a block is
 * coded). Frames may be asked for before the last is done: they are placed, counted and hashed in the order asked.
 */
export class Compressor {
  private place?: Place;
  private length = 0;
  private solo = false;
  private readonly hash = createHash('sha256');

  constructor(private readonly coder: FrameCoder) {}

  /** The frame of the next block; `last`: no block follows it. */
  async frame(block: Uint8Array, progress?: ByteProgress, last = false): Promise<{ frame: Uint8Array; report: FrameReport }> {
    const only = last && !this.place;
    const place: Place = this.place ? { ...this.place, frameIndex: this.place.frameIndex + 1 } : onlyFrame(sha256Prefix(block));
    this.place = place;
    this.length += block.length;
    this.hash.update(block);
    const coded = await this.coder.encode(block, place, only, progress);
    if (only) this.solo = coded.solo;
    return coded;
  }

  /** The end record, after the last frame (an empty input is one empty frame); nothing after a solo record. */
  end(): Uint8Array {
    if (!this.place) throw new Error('Compressor.end before any frame');
    if (this.solo) return new Uint8Array(0);
    return encodeEnd({ streamId: this.place.streamId, frames: this.place.frameIndex + 1, length: this.length, sha256Prefix: this.hash.digest().subarray(0, ORIGINAL_HASH_BYTES) });
  }
}

/**
 * A frame's report with the model it names, the hex fingerprint (or the prefix a solo record keeps) of the one that
 * coded it, and the rows a GPU steps for it beside other frames' (0: it is decoded alone, or without the model).
 */
export type ListedFrame = FrameReport & { modelName: string; fingerprint: string; rows: number };

/** A frame checked in its place: its contents, its report, and for a model's frame its ranged document. */
interface Inspected {
  contents: BinContents;
  report: ListedFrame;
  doc?: RangedDoc;
}

/** A frame read and checked in itself (not in its place), without the model. */
function framed(record: Uint8Array, limits: Limits): Inspected {
  const contents = decodeBin(record, limits);
  if (isModelFree(contents.header.mode)) return { contents, report: { coder: contents.header.mode, bytes: contents.header.originalLength, frameBytes: record.length, tokens: 0, escapedBytes: 0, modelName: '', fingerprint: '', rows: 0 } };
  const doc = rangeOfFrame(contents);
  return { contents, doc, report: { coder: doc.mode, bytes: doc.byteLength, frameBytes: record.length, tokens: doc.length, escapedBytes: doc.escapedBytes ?? 0, modelName: doc.modelName, fingerprint: doc.modelFingerprint, rows: walksOnDevice(doc) ? lanesFor(doc.length, doc) : 0 } };
}

/** What a record is, checked in its place in the stream, without the model: a frame, or (undefined) the end. */
function inspect(record: Uint8Array, check: StreamCheck, limits: Limits): Inspected | undefined {
  return refusing(() => {
    if (isEnd(record)) {
      check.end(decodeEnd(record), record[VERSION_AT]);
      return undefined;
    }
    const frame = framed(record, limits);
    check.frame(frame.contents.header, record[VERSION_AT]);
    return frame;
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
 * Frames' bytes, or why each could not be had: a model-free frame's, or the model's decoding of its tokens (its cache
 * within --memory). The exact-mode frames of one model are decoded together (decodeExactMany).
 */
async function decodeFrames(models: Models, frames: (Inspected | Error)[], limits: Limits, progress: (ByteProgress | undefined)[]): Promise<(Uint8Array | Error)[]> {
  const results: (Uint8Array | Error)[] = new Array(frames.length);
  const exact = new Map<LanguageModel, number[]>();
  const tokenProgress = (i: number, doc: RangedDoc) => progress[i] && ((done: number) => progress[i]!((doc.byteLength * done) / Math.max(1, doc.length)));
  for (const [i, frame] of frames.entries()) {
    try {
      if (frame instanceof Error) throw frame;
      const { contents, doc } = frame;
      if (!doc) results[i] = await bytesOfModelFreeFrame(contents);
      else {
        const model = await models.get(doc, { rows: lanesFor(doc.length, doc), feeding: false });
        if (doc.mode === 'exact') exact.set(model, [...(exact.get(model) ?? []), i]);
        else results[i] = tokensToStr(await unrankTokens(rangeDecode(doc) as TokensDoc & Layout, model, tokenProgress(i, doc), limits.memory), model.tokenizer, model.vocabulary);
      }
    } catch (err) {
      results[i] = err as Error;
    }
  }
  for (const [model, members] of exact) {
    const docs = members.map((i) => (frames[i] as Inspected).doc!);
    const tokens = await decodeExactMany(docs, model, limits.memory, members.map((i, k) => tokenProgress(i, docs[k])));
    tokens.forEach((decoded, k) => {
      try {
        results[members[k]] = decoded instanceof Error ? decoded : tokensToStr(decoded, model.tokenizer, model.vocabulary);
      } catch (err) {
        results[members[k]] = err as Error;
      }
    });
  }
  return results;
}

/**
 * Decodes a stream record by record: each frame's bytes (checked against the frame's length and hash), and at the end
 * the whole against the end record's count, length and hash. Records are checked in their place as they are handed
 * in; several may be decoding at once, and their bytes are hashed in the stream's order.
 */
export class Decompressor {
  private readonly check = new StreamCheck();
  private readonly hash = createHash('sha256');
  private hashed: Promise<unknown> = Promise.resolve();

  constructor(private readonly coder: FrameCoder, private readonly limits: Limits) {}

  /** A frame's bytes with its report, or undefined for the end record. */
  record(record: Uint8Array, progress?: ByteProgress): Promise<{ bytes: Uint8Array; report: FrameReport } | undefined> {
    let frame: Inspected | undefined;
    try {
      frame = inspect(record, this.check, this.limits);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!frame) return Promise.resolve(undefined);
    const { report } = frame, index = this.check.count;
    const decoded = this.coder.decode(record, progress, report.rows).catch((err) => {
      throw new UserError(`frame ${index}: ${(err as Error).message}`);
    });
    decoded.catch(() => {});  // reported in its turn, after the frames before it
    const done = this.hashed.then(() => decoded).then((bytes) => {
      this.hash.update(bytes);
      return { bytes, report };
    });
    this.hashed = done.catch(() => {});
    return done;
  }

  /** Checks that the stream ended with its end record, and that the whole matches its hash (every frame decoded). */
  async finish(): Promise<void> {
    const end = refusing(() => this.check.finish());
    await this.hashed;
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
