// The floor under the model, for blocks it would not help (binary data, or text it codes worse than a classical
// coder): a .bin frame in coder mode "brotli" (Node's built-in brotli at its best setting), "zstd" (zstd at level 22,
// through @bokuweb/zstd-wasm: WebAssembly, the same on every platform), "cm" (our byte-level context mixing,
// src/cm.ts: PPMd's class and better, in integer arithmetic) and "stored", the bytes as they are, the last
// resort. All have the compact header (docs/FORMAT.md), with the same length, hash and checksum as any frame, so
// they are refused and verified the same way. A reader never lets a stream decode past its frame's original length.
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { refusing, UserError } from './cli.ts';
import { cmDecode, cmEncode } from './cm.ts';
import { type BinContents, type BinHeader, type CoderMode, encodeBin, fileOfFrame, FINGERPRINT_BYTES, frameOfFile, isModelFree, type ModelFreeMode } from './container.ts';
import { onlyFrame, type Place } from './range.ts';
import { sha256Prefix } from './tokenize.ts';

/** The header of a frame that needs no model. */
function modelFreeHeader(mode: CoderMode, bytes: Uint8Array, place: Place): BinHeader {
  return {
    mode,
    scaleBits: 16,
    modelName: '',
    modelFingerprint: new Uint8Array(FINGERPRINT_BYTES),
    ...place,
    tokenCount: 0,
    originalLength: bytes.length,
    originalSha256Prefix: Buffer.from(sha256Prefix(bytes), 'hex'),
    contextWindow: 0,
    topN: 0,
    segmentLength: 0,
    extra: new Uint8Array(0),
  };
}

const modelFreeFrame = (mode: ModelFreeMode, bytes: Uint8Array, place: Place, payload: Uint8Array) => encodeBin(modelFreeHeader(mode, bytes, place), payload, new Uint16Array(0));

/** A stored frame: the bytes as they are, in the table field. */
export function storedFrame(bytes: Uint8Array, place: Place): Uint8Array {
  return modelFreeFrame('stored', bytes, place, bytes);
}

/** A brotli frame: the brotli stream (quality 11, a window that holds the block) in the table field, no words. */
export function brotliFrame(bytes: Uint8Array, place: Place): Uint8Array {
  // brotli's own default window (22 bits), larger for a block that needs it; smaller windows measured worse
  const window = Math.min(constants.BROTLI_MAX_WINDOW_BITS, Math.max(22, Math.ceil(Math.log2(bytes.length + 1))));
  const stream = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: window, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  return modelFreeFrame('brotli', bytes, place, stream);
}

/** The bytes of a brotli frame, never more than its header's length (a crafted stream cannot inflate past it). */
export function bytesOfBrotliFrame({ header, table }: BinContents): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = brotliDecompressSync(table, { maxOutputLength: Math.max(1, header.originalLength) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw longer(header);
    throw new UserError(`corrupt brotli frame: ${code ?? (err as Error).message}`);
  }
  return checked(bytes, header);
}

// zstd: the WebAssembly build loads once, on first use.
type ZstdWasm = typeof import('@bokuweb/zstd-wasm');
let zstdWasm: Promise<ZstdWasm> | undefined;
const zstd = () => (zstdWasm ??= import('@bokuweb/zstd-wasm').then(async (z) => (await z.init(), z)));

/** The highest zstd level ("ultra"); single-shot, so the frame records the block's size and its window fits the block. */
const ZSTD_LEVEL = 22;

/** A zstd frame: one zstd frame (RFC 8878) with its content size, no checksum (the header's hash checks it). */
export async function zstdFrame(bytes: Uint8Array, place: Place): Promise<Uint8Array> {
  return modelFreeFrame('zstd', bytes, place, (await zstd()).compress(bytes, ZSTD_LEVEL));
}

/**
 * The content size that a zstd frame header declares (RFC 8878, 3.1.1.1), or why it declares none we accept. The
 * decoder sizes its output by it, so it must be the frame's original length before anything is decoded.
 */
function zstdContentSize(stream: Uint8Array): number | string {
  if (stream.length < 5 || Buffer.from(stream.buffer, stream.byteOffset, 4).readUInt32LE(0) !== 0xfd2fb528) return 'it is not a zstd frame';
  const descriptor = stream[4];
  if (descriptor & 0x08) return 'its header sets a reserved bit';
  if (descriptor & 0x03) return 'it needs a dictionary';
  const single = (descriptor >> 5) & 1;
  // a window larger than 32-bit zstd decodes (2^30) would make it report an error for the content size
  if (!single && stream.length > 5 && 10 + (stream[5] >> 3) > 30) return 'its window is too large';
  const sizeBytes = [single, 2, 4, 8][descriptor >> 6];
  if (sizeBytes === 0) return 'it does not declare its size';
  const at = 5 + (single ? 0 : 1);
  if (stream.length < at + sizeBytes) return 'it ends inside its header';
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + stream[at + i];
  return sizeBytes === 2 ? size + 256 : size;
}

const ZSTD_ERRORS: Record<number, string> = { 10: 'not a zstd frame', 14: 'unsupported frame parameters', 16: 'its window is too large', 20: 'data is corrupt', 22: 'checksum mismatch', 64: 'cannot allocate memory', 72: 'the stream ends early' };

/** The bytes of a zstd frame: decoded into a buffer of the header's original length, which it cannot overrun. */
export async function bytesOfZstdFrame({ header, table }: BinContents): Promise<Uint8Array> {
  const declared = zstdContentSize(table);
  if (typeof declared === 'string') throw new UserError(`corrupt zstd frame: ${declared}`);
  // A stream that decodes to more than it declares fails inside zstd (its output buffer is the declared size).
  if (declared !== header.originalLength) throw new UserError(`corrupt zstd frame: its stream declares ${declared} bytes, its header ${header.originalLength}`);
  const z = await zstd();
  let bytes: Uint8Array;
  try {
    bytes = z.decompress(table, { defaultHeapSize: header.originalLength });
  } catch (err) {
    // zstd's errors come as negated codes (zstd_errors.h); dstSize_tooSmall is a stream longer than it declares
    const code = -Number(/code (-?\d+)/.exec((err as Error).message)?.[1]);
    if (code === 70) throw longer(header);
    throw new UserError(`corrupt zstd frame: ${ZSTD_ERRORS[code] ?? 'zstd refused it'} (zstd error ${code})`);
  }
  return checked(bytes, header);
}

/** A cm frame: the context-mixing stream of the block (src/cm.ts) in the table field. */
export function cmFrame(bytes: Uint8Array, place: Place): Uint8Array;
export function cmFrame(bytes: Uint8Array, place: Place, ceiling?: number): Uint8Array | undefined;
export function cmFrame(bytes: Uint8Array, place: Place, ceiling = Infinity): Uint8Array | undefined {
  const stream = cmEncode(bytes, ceiling);
  return stream && modelFreeFrame('cm', bytes, place, stream);
}

/** The bytes of a cm frame: exactly the header's original length, or a refusal if the stream ends too early. */
export function bytesOfCmFrame({ header, table }: BinContents): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = cmDecode(table, header.originalLength);
  } catch (err) {
    throw new UserError(`corrupt cm frame: ${(err as Error).message}`);
  }
  return checked(bytes, header);
}

/** The one line for a stream that decodes to more than its frame's original. */
const longer = (header: BinHeader) => new UserError(`corrupt ${header.mode} frame: its stream decodes to more than the ${header.originalLength} bytes its header says: refused`);

/** binOfBytes: a file of one stored frame. */
export function binOfBytes(bytes: Uint8Array): Uint8Array {
  return fileOfFrame(storedFrame(bytes, onlyFrame(sha256Prefix(bytes))));
}

/** bytesOfBin: the bytes of a file of one frame that needs no model (stored, brotli, zstd or cm). */
export async function bytesOfBin(file: Uint8Array): Promise<Uint8Array> {
  const { contents } = refusing(() => frameOfFile(file));
  if (!isModelFree(contents.header.mode)) throw new UserError(`this .bin is coded in ${contents.header.mode} mode, which needs the model: decode it with binToRange and the model stages`);
  return bytesOfModelFreeFrame(contents);
}

/** The bytes of a stored frame (checked by decodeBin), after checking their length and hash. */
export function bytesOfStoredFrame({ header, table }: BinContents): Uint8Array {
  return checked(table, header);
}

function checked(bytes: Uint8Array, header: BinHeader): Uint8Array {
  if (bytes.length !== header.originalLength) throw new UserError(`corrupt ${header.mode} frame: its stream decodes to ${bytes.length} bytes, its header says ${header.originalLength}`);
  if (!sha256Prefix(bytes).startsWith(Buffer.from(header.originalSha256Prefix).toString('hex'))) {
    throw new UserError(`${header.mode} bytes do not match the original's hash: corrupt .bin`);
  }
  return bytes;
}

/** The bytes of a frame that needs no model. */
export async function bytesOfModelFreeFrame(contents: BinContents): Promise<Uint8Array> {
  switch (contents.header.mode) {
    case 'brotli': return bytesOfBrotliFrame(contents);
    case 'zstd': return bytesOfZstdFrame(contents);
    case 'cm': return bytesOfCmFrame(contents);
    default: return bytesOfStoredFrame(contents);
  }
}

/** The fast frames that need no model: stored, zstd and brotli (src/frames.ts settles a tie among them and the rest). */
export async function classicalFrames(bytes: Uint8Array, place: Place): Promise<{ coder: ModelFreeMode; frame: Uint8Array }[]> {
  return [
    { coder: 'stored', frame: storedFrame(bytes, place) },
    { coder: 'zstd', frame: await zstdFrame(bytes, place) },
    { coder: 'brotli', frame: brotliFrame(bytes, place) },
  ];
}
