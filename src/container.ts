// The .bin container: frames (a fixed little-endian header, the symbol table, the rANS words and a CRC-32),
// each with its stream's id and its place in it, then an end record that binds them: frame count, total length
// and the whole original's hash. docs/FORMAT.md describes it byte by byte.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { encodeTable, pushVarint } from './ans.ts';
import { decodeExtra, MIXER_SINCE, impliedBySolo, mixerVersionOf, SOLO_HAS, soloFlagsOf, soloHasMixer2 } from './extra.ts';

export const BIN_MAGIC = 'LLMC';
export const BIN_VERSION = 10;
/**
 * Versions this build reads: version 9 is version 10 without mixer version 5 (the pair bias), version 8 is version 9 without mixer version 4 (the token bias), version 7 is version 8 without mixer version 3 and lanes implied by solo records (its
 * solo records imply one lane and mixer version 1 or 2), version 6 is version 7 without cm frames, version 5 is version 6 without solo records, version 4 is version 5 with an integer
 * model's fingerprint taken over its graph file, and version 3 is version 4 without its additions (docs/FORMAT.md,
 * "Versions").
 */
export const READABLE_VERSIONS = [3, 4, 5, 6, 7, 8, 9, 10];
const readable = `${READABLE_VERSIONS.slice(0, -1).join(', ')} and ${READABLE_VERSIONS.at(-1)}`;
export const FINGERPRINT_BYTES = 32;
export const ORIGINAL_HASH_BYTES = 16;
export const STREAM_ID_BYTES = 8;
/** A solo record (a whole file in one record, docs/FORMAT.md) keeps this much of the original's hash and of the model's fingerprint. */
export const SOLO_HASH_BYTES = 4;
export const SOLO_FINGERPRINT_BYTES = 4;
/** Bit 0 of the flags byte: the record is a whole file by itself, with no end record. */
const SOLO = 1;
/** An exact-mode frame's symbol table, which has no entries: a solo record leaves it out. */
const EMPTY_TABLE = encodeTable([], []);

const CODER_MODES = ['rank', 'exact', 'stored', 'brotli', 'zstd', 'cm'] as const;
export type CoderMode = (typeof CODER_MODES)[number];
/** Coder modes whose frames need no model: their header is the compact one (docs/FORMAT.md). */
const MODEL_FREE_MODES = ['stored', 'brotli', 'zstd', 'cm'] as const satisfies readonly CoderMode[];
export type ModelFreeMode = (typeof MODEL_FREE_MODES)[number];
export const isModelFree = (mode: CoderMode | undefined): mode is ModelFreeMode => (MODEL_FREE_MODES as readonly (CoderMode | undefined)[]).includes(mode);
/** The format version that brought cm frames (src/cm.ts). */
const CM_SINCE = 7;
/** The format version from which a record may be solo (flags bit 0). */
const SOLO_SINCE = 6;
/** Byte 6 of the end record, where a frame has its coder mode. */
const END_MARK = 0xff;

/**
 * What a reader accepts before it allocates: a frame's original at most `maxOriginal` bytes (llmc --memory), a
 * frame at most twice its original plus 64 KiB (an encoder stores a block rather than code it larger), and a model
 * cache for the frame's rows and window of at most `memory` bytes (src/codec.ts, cacheOfLayout).
 */
export interface Limits {
  maxOriginal: number;
  memory: number;
}
export const FRAME_SLACK = 1 << 16;
/** Memory a decoder may need per byte of a frame's original (its tokens and their bookkeeping), an upper bound. */
export const MEMORY_PER_BYTE = 512;
export const DEFAULT_MEMORY = 2 ** 31;
export const limitsFor = (memory: number): Limits => ({ maxOriginal: Math.floor(memory / MEMORY_PER_BYTE), memory });
export const DEFAULT_LIMITS = limitsFor(DEFAULT_MEMORY);
/** The most bytes of free-form extra JSON a frame may carry. */
export const MAX_EXTRA = 4096;

export interface BinHeader {
  /** 'rank': static table of rank hits / raw-token misses; 'exact': the model's full distribution per token; 'stored', 'brotli', 'zstd', 'cm': no model (src/stored.ts). */
  mode: CoderMode;
  /** Precision of the rANS frequencies, 1..31. */
  scaleBits: number;
  /** Model identifier, at most 255 bytes of UTF-8. */
  modelName: string;
  /** SHA-256 identifying the exact model weights/tokenizer, supplied by the caller. */
  modelFingerprint: Uint8Array;
  /** The first STREAM_ID_BYTES of SHA-256 of the stream's first block: the same in every frame of one file. */
  streamId: Uint8Array;
  /** The frame's place in its file, from 0. */
  frameIndex: number;
  tokenCount: number;
  /** Length of the original input in bytes (< 2^53). */
  originalLength: number;
  /** First ORIGINAL_HASH_BYTES bytes of SHA-256 of the original input. */
  originalSha256Prefix: Uint8Array;
  contextWindow: number;
  topN: number;
  /** Tokens per independently coded segment; 0 = a single segment. */
  segmentLength: number;
  /** Free-form bytes for later additions; empty when unused. */
  extra: Uint8Array;
  /**
   * The record is a whole file (docs/FORMAT.md, "Solo records"): no end record, no stream id (zeros here), and only
   * SOLO_HASH_BYTES of the original's hash and SOLO_FINGERPRINT_BYTES of the model's fingerprint.
   */
  solo?: boolean;
}

export interface BinContents {
  header: BinHeader;
  table: Uint8Array;
  words: Uint16Array;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

const U32_MAX = 2 ** 32 - 1;
const MAGIC_BYTES = new TextEncoder().encode(BIN_MAGIC);
/** Where a record's format version is, after the magic. */
export const VERSION_AT = MAGIC_BYTES.length;
const CRC_BYTES = 4;

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) throw new Error(`${name} must be an integer in 0..2^32-1, got ${value}`);
}

function checkLength(name: string, bytes: Uint8Array, expected: number): void {
  if (bytes.length !== expected) throw new Error(`BinHeader.${name} must be ${expected} bytes, got ${bytes.length}`);
}

/** Appends fixed-width little-endian fields to a growing byte list. */
class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  u8(v: number): void {
    this.bytes(Uint8Array.of(v));
  }

  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.bytes(b);
  }

  varint(v: number): void {
    const out: number[] = [];
    pushVarint(out, v);
    this.bytes(Uint8Array.from(out));
  }

  /** u64 as two u32 (low, high): exact for every safe integer. */
  u64(v: number): void {
    this.u32(v % 2 ** 32);
    this.u32(Math.floor(v / 2 ** 32));
  }

  concat(extraCapacity: number): Uint8Array {
    const out = new Uint8Array(this.size + extraCapacity);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

export function encodeBin(header: BinHeader, tableBytes: Uint8Array, words: Uint16Array): Uint8Array {
  if (header.solo) {
    const solo = encodeSolo({ header, table: tableBytes, words });
    if (!solo) throw new Error('this frame\'s layout is not the one a solo record implies (docs/FORMAT.md): write it as a frame and an end record');
    return solo;
  }
  const modeCode = CODER_MODES.indexOf(header.mode);
  if (modeCode < 0) throw new Error(`BinHeader.mode must be one of ${CODER_MODES.join(', ')}, got ${String(header.mode)}`);
  if (!Number.isInteger(header.scaleBits) || header.scaleBits < 1 || header.scaleBits > 31) {
    throw new Error(`BinHeader.scaleBits must be an integer in 1..31, got ${header.scaleBits}`);
  }
  const name = new TextEncoder().encode(header.modelName);
  if (name.length > 255) throw new Error(`BinHeader.modelName is ${name.length} bytes of UTF-8, at most 255 allowed`);
  checkLength('modelFingerprint', header.modelFingerprint, FINGERPRINT_BYTES);
  checkLength('originalSha256Prefix', header.originalSha256Prefix, ORIGINAL_HASH_BYTES);
  checkLength('streamId', header.streamId, STREAM_ID_BYTES);
  checkU32('BinHeader.frameIndex', header.frameIndex);
  checkU32('BinHeader.tokenCount', header.tokenCount);
  if (!Number.isSafeInteger(header.originalLength) || header.originalLength < 0) {
    throw new Error(`BinHeader.originalLength must be a non-negative safe integer, got ${header.originalLength}`);
  }
  checkU32('BinHeader.contextWindow', header.contextWindow);
  checkU32('BinHeader.topN', header.topN);
  checkU32('BinHeader.segmentLength', header.segmentLength);
  if (header.extra.length > MAX_EXTRA) throw new Error(`BinHeader.extra is ${header.extra.length} bytes, at most ${MAX_EXTRA} allowed`);
  checkU32('table length', tableBytes.length);
  checkU32('word count', words.length);

  const w = new ByteWriter();
  w.bytes(MAGIC_BYTES);
  w.u8(BIN_VERSION);
  w.u8(0); // flags: none defined yet
  w.u8(modeCode);
  if (isModelFree(header.mode)) {
    // The compact header: what a frame without a model needs, its payload in the table field.
    if (words.length > 0) throw new Error(`a ${header.mode} frame has its payload in the table, and no words`);
    w.bytes(header.streamId);
    w.u32(header.frameIndex);
    w.u64(header.originalLength);
    w.bytes(header.originalSha256Prefix);
    w.u32(tableBytes.length);
    w.bytes(tableBytes);
    return withCrc(w.concat(CRC_BYTES));
  }
  w.u8(header.scaleBits);
  w.u8(name.length);
  w.bytes(name);
  w.bytes(header.modelFingerprint);
  w.bytes(header.streamId);
  w.u32(header.frameIndex);
  w.u32(header.tokenCount);
  w.u64(header.originalLength);
  w.bytes(header.originalSha256Prefix);
  w.u32(header.contextWindow);
  w.u32(header.topN);
  w.u32(header.segmentLength);
  w.u32(header.extra.length);
  w.bytes(header.extra);
  w.u32(tableBytes.length);
  w.bytes(tableBytes);
  w.u32(words.length);
  return withWordsAndCrc(w, words);
}

/** What `w` holds, then the words and the CRC-32, written straight into the final buffer. */
function withWordsAndCrc(w: ByteWriter, words: Uint16Array): Uint8Array {
  const out = w.concat(2 * words.length + CRC_BYTES);
  const view = new DataView(out.buffer);
  let off = out.length - 2 * words.length - CRC_BYTES;
  for (let i = 0; i < words.length; i++, off += 2) view.setUint16(off, words[i], true);
  return withCrc(out);
}

/** Fills the last CRC_BYTES of a record with the CRC-32 of the bytes before them. */
function withCrc(out: Uint8Array): Uint8Array {
  const at = out.length - CRC_BYTES;
  new DataView(out.buffer, out.byteOffset).setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * A frame as a solo record, a whole file by itself, or undefined when its layout is not one a solo record can hold:
 * a frame without a model, or an exact-mode frame of the layout solo records imply (extra.ts, SOLO_LAYOUT).
 */
export function encodeSolo({ header, table, words }: BinContents): Uint8Array | undefined {
  const modelFree = isModelFree(header.mode);
  let flags = SOLO;
  let vocabSize = 0, escapedBytes = 0;
  if (!modelFree) {
    let extra;
    try {
      extra = decodeExtra(header.extra, header);
    } catch {
      return undefined;
    }
    const has = soloFlagsOf(header, extra);
    if (has === undefined || !sameBytes(table, EMPTY_TABLE)) return undefined;
    flags |= has;
    ({ vocabSize, escapedBytes = 0 } = extra);
  }
  if (header.originalSha256Prefix.length < SOLO_HASH_BYTES || (!modelFree && header.modelFingerprint.length < SOLO_FINGERPRINT_BYTES)) return undefined;
  checkU32('BinHeader.tokenCount', header.tokenCount);
  if (!Number.isSafeInteger(header.originalLength) || header.originalLength < 0) return undefined;
  const w = new ByteWriter();
  w.bytes(MAGIC_BYTES);
  w.u8(BIN_VERSION);
  w.u8(flags);
  w.u8(CODER_MODES.indexOf(header.mode));
  if (modelFree) {
    if (words.length > 0) throw new Error(`a ${header.mode} frame has its payload in the table, and no words`);
    w.varint(header.originalLength);
    w.bytes(header.originalSha256Prefix.subarray(0, SOLO_HASH_BYTES));
    w.varint(table.length);
    w.bytes(table);
    return withCrc(w.concat(CRC_BYTES));
  }
  w.bytes(header.modelFingerprint.subarray(0, SOLO_FINGERPRINT_BYTES));
  w.varint(header.originalLength);
  w.varint(header.tokenCount);
  if (escapedBytes > 0) w.varint(escapedBytes);
  w.varint(header.contextWindow);
  w.varint(vocabSize);
  w.bytes(header.originalSha256Prefix.subarray(0, SOLO_HASH_BYTES));
  w.varint(words.length);
  return withWordsAndCrc(w, words);
}

/** A frame as a solo record, when its layout allows. */
export const soloOf = (frame: Uint8Array): Uint8Array | undefined => encodeSolo(decodeBin(frame));

/** A frame cut short: `needed` bytes would let the layout be read further. */
class Truncated extends Error {
  constructor(message: string, readonly needed: number) {
    super(message);
  }
}

/** Reads fixed-width little-endian fields, failing with "truncated" instead of reading past the end. */
class ByteReader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Claims the next n bytes and returns their offset. */
  take(n: number, what: string): number {
    if (n > this.data.length - this.pos) {
      throw new Truncated(`truncated .bin file: it ends inside the ${what} (${this.data.length} bytes)`, this.pos + n);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  /** An unsigned LEB128 varint of at most 8 bytes, a safe integer. */
  varint(what: string): number {
    let value = 0;
    for (let k = 0, scale = 1; k < 8; k++, scale *= 0x80) {
      const b = this.u8(what);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
    }
    throw new Error(`corrupt .bin file: its ${what} is not a varint of at most 8 bytes below 2^53`);
  }

  /** A copy, so the result does not pin or alias the caller's buffer. */
  bytes(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.data.slice(at, at + n);
  }
}

/** The fields as stored, before any of them is trusted. */
interface RawBin {
  flags: number;
  modeCode: number;
  scaleBits: number;
  nameBytes: Uint8Array;
  modelFingerprint: Uint8Array;
  streamId: Uint8Array;
  frameIndex: number;
  tokenCount: number;
  originalLengthLow: number;
  originalLengthHigh: number;
  originalSha256Prefix: Uint8Array;
  contextWindow: number;
  topN: number;
  segmentLength: number;
  extra: Uint8Array;
  table: Uint8Array;
  wordCount: number;
  wordsAt: number;
  crcAt: number;
  /** A solo model record's values that a frame keeps in its extra field. */
  vocabSize?: number;
  escapedBytes?: number;
}

/** The rest of a compact (model-free) frame, after its coder mode; the fields it has no room for are their defaults. */
function readCompactLayout(r: ByteReader, flags: number, modeCode: number, limits?: Limits): RawBin {
  const streamId = r.bytes(STREAM_ID_BYTES, 'stream id');
  const frameIndex = r.u32('frame index');
  const originalLengthLow = r.u32('original length');
  const originalLengthHigh = r.u32('original length');
  const original = originalLengthHigh * 2 ** 32 + originalLengthLow;
  if (limits) refuseOver('original', original, limits.maxOriginal);
  const originalSha256Prefix = r.bytes(ORIGINAL_HASH_BYTES, 'original SHA-256');
  const payloadLength = r.u32('payload length');
  if (limits) refuseOver('payload', payloadLength, 2 * original + FRAME_SLACK);
  const table = r.bytes(payloadLength, 'payload');
  const wordsAt = r.pos;
  const crcAt = r.take(CRC_BYTES, 'checksum');
  return {
    flags, modeCode, scaleBits: 16, nameBytes: new Uint8Array(0), modelFingerprint: new Uint8Array(FINGERPRINT_BYTES), streamId, frameIndex,
    tokenCount: 0, originalLengthLow, originalLengthHigh, originalSha256Prefix, contextWindow: 0, topN: 0, segmentLength: 0,
    extra: new Uint8Array(0), table, wordCount: 0, wordsAt, crcAt,
  };
}

/** The rest of a solo record (a whole file in one record), after its coder mode; docs/FORMAT.md, "Solo records". */
function readSoloLayout(r: ByteReader, flags: number, modeCode: number, limits?: Limits): RawBin {
  const mode = CODER_MODES[modeCode];
  if (mode !== 'exact' && !isModelFree(mode)) throw new Error(`unsupported .bin file: no solo record has coder mode ${modeCode}`);
  const model = mode === 'exact';
  const modelFingerprint = model ? r.bytes(SOLO_FINGERPRINT_BYTES, 'model fingerprint') : new Uint8Array(FINGERPRINT_BYTES);
  const original = r.varint('original length');
  if (limits) refuseOver('original', original, limits.maxOriginal);
  const most = 2 * original + FRAME_SLACK;
  const base = { flags, modeCode, scaleBits: 16, nameBytes: new Uint8Array(0), modelFingerprint, streamId: new Uint8Array(STREAM_ID_BYTES), frameIndex: 0, originalLengthLow: original % 2 ** 32, originalLengthHigh: Math.floor(original / 2 ** 32), contextWindow: 0, topN: 0, segmentLength: 0, extra: new Uint8Array(0) };
  if (!model) {
    const originalSha256Prefix = r.bytes(SOLO_HASH_BYTES, 'original SHA-256');
    const payloadLength = r.varint('payload length');
    if (limits) refuseOver('payload', payloadLength, most);
    const table = r.bytes(payloadLength, 'payload');
    const wordsAt = r.pos;
    return { ...base, tokenCount: 0, originalSha256Prefix, table, wordCount: 0, wordsAt, crcAt: r.take(CRC_BYTES, 'checksum') };
  }
  const tokenCount = r.varint('token count');
  const escapedBytes = flags & SOLO_HAS.escaped ? r.varint('escaped bytes') : 0;
  const contextWindow = r.varint('context window');
  const vocabSize = r.varint('vocabulary size');
  const originalSha256Prefix = r.bytes(SOLO_HASH_BYTES, 'original SHA-256');
  const wordCount = r.varint('word count');
  if (limits) refuseOver('frame', r.pos + 2 * wordCount + CRC_BYTES, most);
  const wordsAt = r.take(2 * wordCount, 'rANS words');
  const crcAt = r.take(CRC_BYTES, 'checksum');
  return { ...base, tokenCount, contextWindow, originalSha256Prefix, table: EMPTY_TABLE.slice(), wordCount, wordsAt, crcAt, vocabSize, escapedBytes };
}

/** Refuses what `limits` do not allow, before it is read or allocated. */
function refuseOver(what: string, size: number, most: number): void {
  if (size > most) throw new Error(`refused .bin frame: its ${what} claims ${size} bytes, more than the ${most} allowed (${what === 'original' ? 'raise --memory if the file is trusted' : 'it cannot be an honest frame'})`);
}

/**
 * Walks the layout (the single place that knows field order), checking that each field fits and that the
 * lengths stay within `limits` (the original's, then the frame's own: bounded by the original, not by the file).
 */
function readLayout(bytes: Uint8Array, limits?: Limits): RawBin {
  const r = new ByteReader(bytes);
  r.take(MAGIC_BYTES.length + 1, 'magic and version');
  const flags = r.u8('flags');
  const modeCode = r.u8('coder mode');
  if (flags & SOLO) return readSoloLayout(r, flags, modeCode, limits);
  if (isModelFree(CODER_MODES[modeCode])) return readCompactLayout(r, flags, modeCode, limits);
  const scaleBits = r.u8('scaleBits');
  const nameBytes = r.bytes(r.u8('model name length'), 'model name');
  const modelFingerprint = r.bytes(FINGERPRINT_BYTES, 'model fingerprint');
  const streamId = r.bytes(STREAM_ID_BYTES, 'stream id');
  const frameIndex = r.u32('frame index');
  const tokenCount = r.u32('token count');
  const originalLengthLow = r.u32('original length');
  const originalLengthHigh = r.u32('original length');
  const original = originalLengthHigh * 2 ** 32 + originalLengthLow;
  if (limits) refuseOver('original', original, limits.maxOriginal);
  const most = 2 * original + FRAME_SLACK;
  const originalSha256Prefix = r.bytes(ORIGINAL_HASH_BYTES, 'original SHA-256');
  const contextWindow = r.u32('context window');
  const topN = r.u32('topN');
  const segmentLength = r.u32('segment length');
  const extraLength = r.u32('extra length');
  if (limits) refuseOver('extra field', extraLength, MAX_EXTRA);
  const extra = r.bytes(extraLength, 'extra field');
  const tableLength = r.u32('table length');
  if (limits) refuseOver('symbol table', tableLength, most);
  const table = r.bytes(tableLength, 'symbol table');
  const wordCount = r.u32('word count');
  if (limits) refuseOver('frame', r.pos + 2 * wordCount + CRC_BYTES, most);
  const wordsAt = r.take(2 * wordCount, 'rANS words');
  const crcAt = r.take(CRC_BYTES, 'checksum');
  return {
    flags, modeCode, scaleBits, nameBytes, modelFingerprint, streamId, frameIndex, tokenCount, originalLengthLow,
    originalLengthHigh, originalSha256Prefix, contextWindow, topN, segmentLength, extra, table, wordCount, wordsAt, crcAt,
  };
}

/**
 * The length of the record (frame or end record) at the start of `bytes`, from its length fields alone: complete,
 * or the bytes needed to read its layout further. What does not start like a record of this version is
 * "complete" as it is, for decodeBin to say what it is. Lengths over `limits` are refused here, before they are read.
 */
export function frameSize(bytes: Uint8Array, limits?: Limits): { complete: boolean; bytes: number } {
  const start = MAGIC_BYTES.length + 1;
  const prefix = bytes.subarray(0, start);
  if (MAGIC_BYTES.subarray(0, prefix.length).some((b, i) => prefix[i] !== b) || (prefix.length === start && !READABLE_VERSIONS.includes(prefix[start - 1]))) {
    return { complete: true, bytes: bytes.length };
  }
  if (isEnd(bytes)) return { complete: bytes.length >= END_BYTES, bytes: END_BYTES };
  try {
    return { complete: true, bytes: readLayout(bytes, limits).crcAt + CRC_BYTES };
  } catch (err) {
    if (err instanceof Truncated) return { complete: false, bytes: err.needed };
    throw err;
  }
}

/** Whether a record is the end record. */
export const isEnd = (record: Uint8Array) => record.length > 6 && record[6] === END_MARK && MAGIC_BYTES.every((b, i) => record[i] === b);

/** What binds a file's frames: their count, the original's total length and the first 16 bytes of its SHA-256. */
export interface StreamEnd {
  streamId: Uint8Array;
  frames: number;
  length: number;
  sha256Prefix: Uint8Array;
}

/** The end record: magic, version, flags, the mark 0xFF where a frame has its coder mode, then StreamEnd and a CRC-32. */
export const END_BYTES = 4 + 3 + STREAM_ID_BYTES + 4 + 8 + ORIGINAL_HASH_BYTES + CRC_BYTES;

export function encodeEnd(end: StreamEnd): Uint8Array {
  checkLength('streamId', end.streamId, STREAM_ID_BYTES);
  checkLength('sha256Prefix', end.sha256Prefix, ORIGINAL_HASH_BYTES);
  checkU32('StreamEnd.frames', end.frames);
  const w = new ByteWriter();
  w.bytes(MAGIC_BYTES);
  w.u8(BIN_VERSION);
  w.u8(0);
  w.u8(END_MARK);
  w.bytes(end.streamId);
  w.u32(end.frames);
  w.u64(end.length);
  w.bytes(end.sha256Prefix);
  return withCrc(w.concat(CRC_BYTES));
}

export function decodeEnd(bytes: Uint8Array): StreamEnd {
  checkStart(bytes);
  if (bytes.length < END_BYTES) throw new Error(`truncated .bin file: it ends inside the end record (${bytes.length} of its ${END_BYTES} bytes)`);
  if (bytes.length > END_BYTES) throw new Error(`corrupt .bin file: ${bytes.length - END_BYTES} byte(s) after the end record`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (crc32(bytes.subarray(0, END_BYTES - CRC_BYTES)) !== view.getUint32(END_BYTES - CRC_BYTES, true)) throw new Error('corrupt: checksum mismatch in the end record (the .bin file is damaged)');
  if (bytes[5] !== 0) throw new Error(`unsupported .bin file: unknown flags 0x${bytes[5].toString(16)}`);
  const r = new ByteReader(bytes);
  r.take(7, 'end mark');
  const streamId = r.bytes(STREAM_ID_BYTES, 'stream id');
  const frames = r.u32('frame count');
  const low = r.u32('total length'), high = r.u32('total length');
  if (high >= 2 ** 21) throw new Error('corrupt .bin file: total length exceeds 2^53');
  return { streamId, frames, length: high * 2 ** 32 + low, sha256Prefix: r.bytes(ORIGINAL_HASH_BYTES, 'SHA-256') };
}

/**
 * Checks that frames come as one stream wrote them: indices 0, 1, 2… of one stream id, and an end record that
 * counts them and sums their lengths. `frame` and `end` take the records in file order; `finish` says whether the
 * end came. The hash of the whole is the caller's to check against `end`'s (it needs the decoded bytes).
 */
export class StreamCheck {
  private frames = 0;
  private length = 0;
  private streamId?: Uint8Array;
  /** The format version of the first record: a writer gives every record of a file the same one (docs/FORMAT.md). */
  private version?: number;
  private solo = false;
  ended?: StreamEnd;

  /** Frames seen so far. */
  get count(): number {
    return this.frames;
  }

  /** A frame's header, and its record's format version. */
  frame(header: BinHeader, version: number): void {
    if (this.ended) throw new Error(`corrupt .bin file: a frame after ${this.solo ? 'a whole file\'s solo record' : 'the end record'}`);
    this.sameVersion(version, `frame ${this.frames + 1}`);
    if (header.solo && this.frames > 0) throw new Error(`corrupt .bin file: frame ${this.frames + 1} is a whole file by itself (a solo record)`);
    if (this.streamId === undefined) this.streamId = header.streamId;
    else if (!sameBytes(header.streamId, this.streamId)) throw new Error(`corrupt .bin file: frame ${this.frames + 1} belongs to another file (stream id differs)`);
    if (header.frameIndex !== this.frames) throw new Error(`corrupt .bin file: frame ${this.frames + 1} is frame ${header.frameIndex + 1} of its file (frames reordered, repeated or missing)`);
    this.frames++;
    this.length += header.originalLength;
    // A solo record is its own end record.
    if (header.solo) {
      this.solo = true;
      this.ended = { streamId: header.streamId, frames: 1, length: header.originalLength, sha256Prefix: header.originalSha256Prefix };
    }
  }

  /** The end record's totals, and its format version. */
  end(end: StreamEnd, version: number): void {
    if (this.ended) throw new Error('corrupt .bin file: a second end record');
    this.sameVersion(version, 'the end record');
    // An empty input is written as one empty frame, so no writer makes an end record with no frame before it.
    if (this.frames === 0) throw new Error('corrupt .bin file: an end record with no frame before it');
    if (this.streamId && !sameBytes(end.streamId, this.streamId)) throw new Error('corrupt .bin file: the end record belongs to another file (stream id differs)');
    if (end.frames !== this.frames || end.length !== this.length) {
      throw new Error(`corrupt .bin file: the end record counts ${end.frames} frame(s) and ${end.length} bytes, the file has ${this.frames} and ${this.length} (frames missing or added)`);
    }
    this.ended = end;
  }

  private sameVersion(version: number, what: string): void {
    this.version ??= version;
    if (version !== this.version) throw new Error(`corrupt .bin file: ${what} is of format version ${version}, the file's first record of ${this.version} (records of two files put together?)`);
  }

  finish(): StreamEnd {
    if (this.frames === 0 && !this.ended) throw new Error('not an llm-compression .bin file (empty input)');
    if (!this.ended) throw new Error(`truncated .bin file: it ends after frame ${this.frames}, without its end record`);
    return this.ended;
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The records of a whole .bin in memory, in order; each is then checked by decodeBin or decodeEnd. */
export function splitRecords(bytes: Uint8Array, limits?: Limits): Uint8Array[] {
  const records: Uint8Array[] = [];
  let at = 0;
  do {
    const size = frameSize(bytes.subarray(at), limits);
    const end = size.complete ? Math.min(at + size.bytes, bytes.length) : bytes.length;
    records.push(bytes.subarray(at, end));
    at = end;
  } while (at < bytes.length);
  return records;
}

/** The end record of a file whose only frame has this header. */
export const endOfOnly = (header: BinHeader): Uint8Array => encodeEnd({ streamId: header.streamId, frames: 1, length: header.originalLength, sha256Prefix: header.originalSha256Prefix });

/**
 * A file of one frame, as the stage scripts write and read it: a solo record where the frame's layout allows,
 * else the frame and its end record. `frameOfFile` checks the binding and gives the frame back.
 */
export function fileOfFrame(frame: Uint8Array): Uint8Array {
  const contents = decodeBin(frame);
  const solo = encodeSolo(contents);
  if (solo) return solo;
  const end = endOfOnly(contents.header);
  const file = new Uint8Array(frame.length + end.length);
  file.set(frame);
  file.set(end, frame.length);
  return file;
}

export function frameOfFile(bytes: Uint8Array, limits: Limits = DEFAULT_LIMITS): { frame: Uint8Array; contents: BinContents } {
  const [frame, ...rest] = splitRecords(bytes, limits);
  const contents = decodeBin(frame, limits);
  const check = new StreamCheck();
  check.frame(contents.header, frame[VERSION_AT]);
  if (contents.header.solo) {
    if (rest.length > 0) throw new Error(`corrupt .bin file: ${bytes.length - frame.length} byte(s) of trailing garbage after the end`);
    return { frame, contents };
  }
  if (rest.length === 0) check.finish();
  if (!isEnd(rest[0])) {
    if (frameSize(rest[0]).complete && rest[0].length > 6) throw new Error('this .bin holds several frames: decode it with llmc -d');
    throw new Error(`corrupt .bin file: ${bytes.length - frame.length} byte(s) after the frame that are not its end record`);
  }
  if (rest.length > 1) throw new Error(`corrupt .bin file: ${rest.slice(1).reduce((n, r) => n + r.length, 0)} byte(s) of trailing garbage after the end record`);
  check.end(decodeEnd(rest[0]), rest[0][VERSION_AT]);
  if (!sameBytes(check.finish().sha256Prefix, contents.header.originalSha256Prefix)) throw new Error('corrupt .bin file: the end record\'s hash is not its frame\'s');
  return { frame, contents };
}

/**
 * Parses a .bin file, refusing with a one-line message anything that is not a complete, intact file of a
 * supported version. Only the magic, the version and the lengths that locate the checksum are read before the
 * CRC is verified, so a bit flip anywhere else reads as corruption.
 */
/** Refuses what does not start as a record of this version: magic, then version. */
function checkStart(bytes: Uint8Array): void {
  const magicLength = MAGIC_BYTES.length;
  if (bytes.length === 0) throw new Error('not an llm-compression .bin file (empty input)');
  if (MAGIC_BYTES.subarray(0, bytes.length).some((b, i) => bytes[i] !== b)) {
    throw new Error('not an llm-compression .bin file (bad magic)');
  }
  if (bytes.length <= magicLength) throw new Error('truncated .bin file: it ends inside the magic and version');
  const version = bytes[magicLength];
  if (version === 1) throw new Error(`unsupported .bin format version 1: its float arithmetic decodes only on the kind of machine that made it; decode it with llm-compression 0.1 (commit db63722) there (this build reads versions ${readable})`);
  if (version === 2) throw new Error(`unsupported .bin format version 2: decode it with llm-compression 0.2 (commit 57fe198), on any machine (this build reads versions ${readable})`);
  if (!READABLE_VERSIONS.includes(version)) throw new Error(`unsupported .bin format version ${version} (this build reads versions ${readable})`);
}

export function decodeBin(bytes: Uint8Array, limits?: Limits): BinContents {
  checkStart(bytes);
  if (isEnd(bytes)) throw new Error('corrupt .bin file: an end record where a frame should be');
  const raw = readLayout(bytes, limits);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcMatchesAt = (at: number): boolean => crc32(bytes.subarray(0, at)) === view.getUint32(at, true);
  const end = raw.crcAt + CRC_BYTES;
  if (end < bytes.length && crcMatchesAt(raw.crcAt)) {
    throw new Error(`corrupt .bin file: ${bytes.length - end} byte(s) of trailing garbage after the end`);
  }
  if (end < bytes.length || !crcMatchesAt(raw.crcAt)) throw new Error('corrupt: checksum mismatch (the .bin file is damaged)');

  const mode = CODER_MODES[raw.modeCode];
  if (mode === undefined) throw new Error(`unsupported .bin file: unknown coder mode ${raw.modeCode}`);
  if (mode === 'cm' && bytes[MAGIC_BYTES.length] < CM_SINCE) throw new Error(`corrupt .bin file: coder mode ${raw.modeCode} (cm) in a record of format version ${bytes[MAGIC_BYTES.length]}, older than cm frames`);
  const solo = (raw.flags & SOLO) !== 0;
  const version = bytes[MAGIC_BYTES.length];
  if (solo && version < SOLO_SINCE) throw new Error(`corrupt .bin file: a solo record of format version ${version}, older than solo records`);
  const mixerVersion = mode === 'exact' && !solo ? mixerVersionOf(raw.extra) : undefined;
  if (mixerVersion !== undefined && version < (MIXER_SINCE[mixerVersion] ?? 0)) throw new Error(`corrupt .bin file: mixer version ${mixerVersion} in a record of format version ${version}, older than ${mixerVersion === 4 ? 'the token bias' : "the pair bias"}`);
  const known = !solo ? 0 : isModelFree(mode) ? SOLO : SOLO | SOLO_HAS.mixer | SOLO_HAS.crlf | SOLO_HAS.escaped | (raw.flags & SOLO_HAS.mixer && soloHasMixer2(version) ? SOLO_HAS.mixer2 : 0);
  if (raw.flags & ~known) throw new Error(`unsupported .bin file: unknown flags 0x${raw.flags.toString(16)}`);
  if (raw.scaleBits < 1 || raw.scaleBits > 31) throw new Error(`corrupt .bin file: scaleBits ${raw.scaleBits} out of range 1..31`);
  if (raw.originalLengthHigh >= 2 ** 21) throw new Error('corrupt .bin file: original length exceeds 2^53');
  const originalLength = raw.originalLengthHigh * 2 ** 32 + raw.originalLengthLow;
  // Every token gives back at least one byte, so more tokens than bytes is no honest frame (and no reason to allocate).
  if (raw.tokenCount > originalLength) throw new Error(`corrupt .bin file: ${raw.tokenCount} tokens cannot make ${originalLength} bytes`);
  let modelName: string;
  try {
    modelName = new TextDecoder('utf-8', { fatal: true }).decode(raw.nameBytes);
  } catch {
    throw new Error('corrupt .bin file: model name is not valid UTF-8');
  }
  const words = new Uint16Array(raw.wordCount);
  for (let i = 0; i < raw.wordCount; i++) words[i] = view.getUint16(raw.wordsAt + 2 * i, true);
  const header: BinHeader = {
    mode,
    scaleBits: raw.scaleBits,
    modelName,
    modelFingerprint: raw.modelFingerprint,
    streamId: raw.streamId,
    frameIndex: raw.frameIndex,
    tokenCount: raw.tokenCount,
    originalLength,
    originalSha256Prefix: raw.originalSha256Prefix,
    contextWindow: raw.contextWindow,
    topN: raw.topN,
    segmentLength: raw.segmentLength,
    extra: raw.extra,
    ...(solo ? { solo } : {}),
    ...(raw.vocabSize !== undefined ? impliedBySolo(version, raw.flags, raw.vocabSize, raw.escapedBytes!, raw.tokenCount) : {}),
  };
  return { header, table: raw.table, words };
}
