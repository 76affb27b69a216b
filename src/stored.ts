// The floor under the model, for blocks it would not help (binary data, or text it codes worse than a classical
// coder): a .bin frame in coder mode "brotli" (Node's built-in brotli at its best setting), and "stored", the
// bytes as they are, the last resort. Both have the compact header (docs/FORMAT.md), with the same length, hash
// and checksum as any frame, so they are refused and verified the same way.
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { refusing, UserError } from './cli.ts';
import { type BinContents, type BinHeader, type CoderMode, encodeBin, fileOfFrame, FINGERPRINT_BYTES, frameOfFile, isModelFree } from './container.ts';
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

/** A stored frame: the bytes as they are, in the table field. */
export function storedFrame(bytes: Uint8Array, place: Place): Uint8Array {
  return encodeBin(modelFreeHeader('stored', bytes, place), bytes, new Uint16Array(0));
}

/** A brotli frame: the brotli stream (quality 11, a window that holds the block) in the table field, no words. */
export function brotliFrame(bytes: Uint8Array, place: Place): Uint8Array {
  // brotli's own default window (22 bits), larger for a block that needs it; smaller windows measured worse
  const window = Math.min(constants.BROTLI_MAX_WINDOW_BITS, Math.max(22, Math.ceil(Math.log2(bytes.length + 1))));
  const stream = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: window, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  return encodeBin(modelFreeHeader('brotli', bytes, place), stream, new Uint16Array(0));
}

/** The bytes of a brotli frame, never more than its header's length (a crafted stream cannot inflate past it). */
export function bytesOfBrotliFrame({ header, table }: BinContents): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = brotliDecompressSync(table, { maxOutputLength: Math.max(1, header.originalLength) });
  } catch (err) {
    throw new UserError(`corrupt brotli frame: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return checked(bytes, header);
}

/** binOfBytes: a file of one stored frame. */
export function binOfBytes(bytes: Uint8Array): Uint8Array {
  return fileOfFrame(storedFrame(bytes, onlyFrame(sha256Prefix(bytes))));
}

/** bytesOfBin: the bytes of a file of one frame that needs no model (stored or brotli). */
export function bytesOfBin(file: Uint8Array): Uint8Array {
  const { contents } = refusing(() => frameOfFile(file));
  if (!isModelFree(contents.header.mode)) throw new UserError(`this .bin is coded in ${contents.header.mode} mode, which needs the model: decode it with binToRange and the model stages`);
  return bytesOfModelFreeFrame(contents);
}

/** The bytes of a stored frame (checked by decodeBin), after checking their length and hash. */
export function bytesOfStoredFrame({ header, table }: BinContents): Uint8Array {
  return checked(table, header);
}

function checked(bytes: Uint8Array, header: BinHeader): Uint8Array {
  if (bytes.length !== header.originalLength || sha256Prefix(bytes) !== Buffer.from(header.originalSha256Prefix).toString('hex')) {
    throw new UserError(`${header.mode} bytes do not match the original's length and hash: corrupt .bin`);
  }
  return bytes;
}

/** The bytes of a frame that needs no model (brotli or stored). */
export const bytesOfModelFreeFrame = (contents: BinContents) => (contents.header.mode === 'brotli' ? bytesOfBrotliFrame(contents) : bytesOfStoredFrame(contents));
