// The .bin container: a fixed little-endian header, the symbol table, the rANS words and a CRC-32 trailer.
// docs/FORMAT.md describes it byte by byte.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const BIN_MAGIC = 'LLMC';
export const BIN_VERSION = 2;
export const FINGERPRINT_BYTES = 32;
export const ORIGINAL_HASH_BYTES = 16;

const CODER_MODES = ['rank', 'exact', 'stored'] as const;
export type CoderMode = (typeof CODER_MODES)[number];

export interface BinHeader {
  /** 'rank': static table of rank hits / raw-token misses; 'exact': the model's full distribution per token. */
  mode: CoderMode;
  /** Precision of the rANS frequencies, 1..31. */
  scaleBits: number;
  /** Model identifier, at most 255 bytes of UTF-8. */
  modelName: string;
  /** SHA-256 identifying the exact model weights/tokenizer, supplied by the caller. */
  modelFingerprint: Uint8Array;
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
  const modeCode = CODER_MODES.indexOf(header.mode);
  if (modeCode < 0) throw new Error(`BinHeader.mode must be 'rank', 'exact' or 'stored', got ${String(header.mode)}`);
  if (!Number.isInteger(header.scaleBits) || header.scaleBits < 1 || header.scaleBits > 31) {
    throw new Error(`BinHeader.scaleBits must be an integer in 1..31, got ${header.scaleBits}`);
  }
  const name = new TextEncoder().encode(header.modelName);
  if (name.length > 255) throw new Error(`BinHeader.modelName is ${name.length} bytes of UTF-8, at most 255 allowed`);
  checkLength('modelFingerprint', header.modelFingerprint, FINGERPRINT_BYTES);
  checkLength('originalSha256Prefix', header.originalSha256Prefix, ORIGINAL_HASH_BYTES);
  checkU32('BinHeader.tokenCount', header.tokenCount);
  if (!Number.isSafeInteger(header.originalLength) || header.originalLength < 0) {
    throw new Error(`BinHeader.originalLength must be a non-negative safe integer, got ${header.originalLength}`);
  }
  checkU32('BinHeader.contextWindow', header.contextWindow);
  checkU32('BinHeader.topN', header.topN);
  checkU32('BinHeader.segmentLength', header.segmentLength);
  checkU32('BinHeader.extra length', header.extra.length);
  checkU32('table length', tableBytes.length);
  checkU32('word count', words.length);

  const w = new ByteWriter();
  w.bytes(MAGIC_BYTES);
  w.u8(BIN_VERSION);
  w.u8(0); // flags: none defined yet
  w.u8(modeCode);
  w.u8(header.scaleBits);
  w.u8(name.length);
  w.bytes(name);
  w.bytes(header.modelFingerprint);
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
  // The words and the CRC are written straight into the final buffer.
  const out = w.concat(2 * words.length + CRC_BYTES);
  const view = new DataView(out.buffer);
  let off = out.length - 2 * words.length - CRC_BYTES;
  for (let i = 0; i < words.length; i++, off += 2) view.setUint16(off, words[i], true);
  view.setUint32(off, crc32(out.subarray(0, off)), true);
  return out;
}

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
}

/** Walks the layout (the single place that knows field order), checking only that each field fits. */
function readLayout(bytes: Uint8Array): RawBin {
  const r = new ByteReader(bytes);
  r.take(MAGIC_BYTES.length + 1, 'magic and version');
  const flags = r.u8('flags');
  const modeCode = r.u8('coder mode');
  const scaleBits = r.u8('scaleBits');
  const nameBytes = r.bytes(r.u8('model name length'), 'model name');
  const modelFingerprint = r.bytes(FINGERPRINT_BYTES, 'model fingerprint');
  const tokenCount = r.u32('token count');
  const originalLengthLow = r.u32('original length');
  const originalLengthHigh = r.u32('original length');
  const originalSha256Prefix = r.bytes(ORIGINAL_HASH_BYTES, 'original SHA-256');
  const contextWindow = r.u32('context window');
  const topN = r.u32('topN');
  const segmentLength = r.u32('segment length');
  const extra = r.bytes(r.u32('extra length'), 'extra field');
  const table = r.bytes(r.u32('table length'), 'symbol table');
  const wordCount = r.u32('word count');
  const wordsAt = r.take(2 * wordCount, 'rANS words');
  const crcAt = r.take(CRC_BYTES, 'checksum');
  return {
    flags, modeCode, scaleBits, nameBytes, modelFingerprint, tokenCount, originalLengthLow, originalLengthHigh,
    originalSha256Prefix, contextWindow, topN, segmentLength, extra, table, wordCount, wordsAt, crcAt,
  };
}

/**
 * The length of the frame at the start of `bytes`, from its length fields alone: complete, or the bytes needed to
 * read its layout further. What does not start like a frame of this version is "complete" as it is, for
 * decodeBin to say what it is.
 */
export function frameSize(bytes: Uint8Array): { complete: boolean; bytes: number } {
  const start = MAGIC_BYTES.length + 1;
  const prefix = bytes.subarray(0, start);
  if (MAGIC_BYTES.subarray(0, prefix.length).some((b, i) => prefix[i] !== b) || (prefix.length === start && prefix[start - 1] !== BIN_VERSION)) {
    return { complete: true, bytes: bytes.length };
  }
  try {
    return { complete: true, bytes: readLayout(bytes).crcAt + CRC_BYTES };
  } catch (err) {
    if (err instanceof Truncated) return { complete: false, bytes: err.needed };
    throw err;
  }
}

/** Splits a .bin that holds several frames one after another into the frames; each is then checked by decodeBin. */
export function splitFrames(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  do {
    const size = frameSize(bytes.subarray(at));
    const end = size.complete ? at + size.bytes : bytes.length;
    frames.push(bytes.subarray(at, end));
    at = end;
  } while (at < bytes.length);
  return frames;
}

/**
 * Parses a .bin file, refusing with a one-line message anything that is not a complete, intact file of a
 * supported version. Only the magic, the version and the lengths that locate the checksum are read before the
 * CRC is verified, so a bit flip anywhere else reads as corruption.
 */
export function decodeBin(bytes: Uint8Array): BinContents {
  const magicLength = MAGIC_BYTES.length;
  if (bytes.length === 0) throw new Error('not an llm-compression .bin file (empty input)');
  if (MAGIC_BYTES.subarray(0, bytes.length).some((b, i) => bytes[i] !== b)) {
    throw new Error('not an llm-compression .bin file (bad magic)');
  }
  if (bytes.length <= magicLength) throw new Error('truncated .bin file: it ends inside the magic and version');
  const version = bytes[magicLength];
  if (version === 1) throw new Error('unsupported .bin format version 1: its float arithmetic decodes only on the kind of machine that made it; decode it with llm-compression 0.1 (commit db63722) there (this build reads version 2)');
  if (version !== BIN_VERSION) throw new Error(`unsupported .bin format version ${version} (this build reads version ${BIN_VERSION})`);

  const raw = readLayout(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcMatchesAt = (at: number): boolean => crc32(bytes.subarray(0, at)) === view.getUint32(at, true);
  const end = raw.crcAt + CRC_BYTES;
  if (end < bytes.length && crcMatchesAt(raw.crcAt)) {
    throw new Error(`corrupt .bin file: ${bytes.length - end} byte(s) of trailing garbage after the end`);
  }
  if (end < bytes.length || !crcMatchesAt(raw.crcAt)) throw new Error('corrupt: checksum mismatch (the .bin file is damaged)');

  if (raw.flags !== 0) throw new Error(`unsupported .bin file: unknown flags 0x${raw.flags.toString(16)}`);
  const mode = CODER_MODES[raw.modeCode];
  if (mode === undefined) throw new Error(`unsupported .bin file: unknown coder mode ${raw.modeCode}`);
  if (raw.scaleBits < 1 || raw.scaleBits > 31) throw new Error(`corrupt .bin file: scaleBits ${raw.scaleBits} out of range 1..31`);
  if (raw.originalLengthHigh >= 2 ** 21) throw new Error('corrupt .bin file: original length exceeds 2^53');
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
    tokenCount: raw.tokenCount,
    originalLength: raw.originalLengthHigh * 2 ** 32 + raw.originalLengthLow,
    originalSha256Prefix: raw.originalSha256Prefix,
    contextWindow: raw.contextWindow,
    topN: raw.topN,
    segmentLength: raw.segmentLength,
    extra: raw.extra,
  };
  return { header, table: raw.table, words };
}
