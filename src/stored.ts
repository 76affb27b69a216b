// The fallback where the model would not help (binary data): a .bin frame in coder mode "stored" that holds
// the bytes as they are, two per 16-bit word (docs/FORMAT.md), with the same length, hash and checksum as any
// frame, so it is refused and verified the same way.
import { refusing, UserError } from './cli.ts';
import { type BinContents, encodeBin, fileOfFrame, FINGERPRINT_BYTES, frameOfFile } from './container.ts';
import { onlyFrame, type Place } from './range.ts';
import { sha256Prefix } from './tokenize.ts';

export function storedFrame(bytes: Uint8Array, place: Place): Uint8Array {
  const words = new Uint16Array(Math.ceil(bytes.length / 2));
  for (let i = 0; i < bytes.length; i++) words[i >> 1] |= bytes[i] << (8 * (i & 1));
  return encodeBin(
    {
      mode: 'stored',
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
    },
    new Uint8Array(0),
    words,
  );
}

/** binOfBytes: a file of one stored frame. */
export function binOfBytes(bytes: Uint8Array): Uint8Array {
  return fileOfFrame(storedFrame(bytes, onlyFrame(sha256Prefix(bytes))));
}

/** bytesOfBin: the bytes of a file of one stored frame. */
export function bytesOfBin(file: Uint8Array): Uint8Array {
  const { contents } = refusing(() => frameOfFile(file));
  if (contents.header.mode !== 'stored') throw new UserError(`this .bin is coded in ${contents.header.mode} mode, not stored: decode it with binToRange and the model stages`);
  return bytesOfStoredFrame(contents);
}

/** The bytes of a stored frame (checked by decodeBin), after checking their length and hash. */
export function bytesOfStoredFrame({ header, words }: BinContents): Uint8Array {
  const length = header.originalLength;
  if (words.length !== Math.ceil(length / 2)) throw new UserError(`corrupt .bin: ${words.length} words cannot hold ${length} bytes`);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = words[i >> 1] >> (8 * (i & 1));
  if (sha256Prefix(bytes) !== Buffer.from(header.originalSha256Prefix).toString('hex')) throw new UserError('stored bytes do not match the original hash: corrupt .bin');
  return bytes;
}
