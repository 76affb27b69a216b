import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { type BinHeader, decodeBin, encodeBin, sha256 } from '../src/container.ts';

function sampleHeader(overrides: Partial<BinHeader> = {}): BinHeader {
  const original = new TextEncoder().encode('Call me Ishmael.');
  return {
    mode: 'rank',
    scaleBits: 24,
    modelName: 'Xenova/gpt2 · ünïcode',
    modelFingerprint: sha256(new TextEncoder().encode('weights')),
    tokenCount: 4,
    originalLength: original.length,
    originalSha256Prefix: sha256(original).subarray(0, 16),
    contextWindow: 1024,
    topN: 256,
    segmentLength: 0,
    extra: Uint8Array.of(7, 8, 9),
    ...overrides,
  };
}

const sampleTable = Uint8Array.of(3, 1, 0xd7, 0x04, 10, 0xc8, 0x01, 199, 0x01, 0);
const sampleWords = Uint16Array.of(0x8000, 0x1234, 0xffff, 0x0001);

/** Rewrites the trailing CRC so a deliberately altered field gets past the checksum. */
function withFixedCrc(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function assertOneLineError(fn: () => unknown, pattern: RegExp, note = ''): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error, note);
    assert.match(err.message, pattern, note);
    assert.ok(!err.message.includes('\n'), `multi-line message ${note}`);
    return true;
  });
}

test('sha256 of "abc" is the standard test vector', () => {
  assert.equal(Buffer.from(sha256(new TextEncoder().encode('abc'))).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('.bin round trip keeps every header field, the table and the words', () => {
  const header = sampleHeader();
  const bytes = encodeBin(header, sampleTable, sampleWords);
  const decoded = decodeBin(bytes);
  assert.deepEqual(decoded, { header, table: sampleTable, words: sampleWords });

  const other = sampleHeader({ mode: 'exact', scaleBits: 31, originalLength: 2 ** 53 - 1, tokenCount: 2 ** 32 - 1, segmentLength: 512, topN: 0, extra: new Uint8Array(0), modelName: '' });
  assert.deepEqual(decodeBin(encodeBin(other, new Uint8Array(0), new Uint16Array(0))), { header: other, table: new Uint8Array(0), words: new Uint16Array(0) });
});

test('.bin layout matches docs/FORMAT.md', () => {
  const header = sampleHeader();
  const bytes = encodeBin(header, sampleTable, sampleWords);
  const name = new TextEncoder().encode(header.modelName);
  const fixed = 4 + 1 + 1 + 1 + 1 + 1 + 32 + 4 + 8 + 16 + 4 + 4 + 4 + 4 + 4 + 4 + 4;
  assert.equal(bytes.length, fixed + name.length + header.extra.length + sampleTable.length + 2 * sampleWords.length);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'LLMC');
  assert.deepEqual([...bytes.subarray(4, 9)], [2, 0, 0, 24, name.length]);
  const view = new DataView(bytes.buffer);
  const afterName = 9 + name.length;
  assert.deepEqual(bytes.subarray(afterName, afterName + 32), header.modelFingerprint);
  assert.equal(view.getUint32(afterName + 32, true), header.tokenCount);
  assert.equal(view.getBigUint64(afterName + 36, true), BigInt(header.originalLength));
  assert.equal(view.getUint32(afterName + 60, true), header.contextWindow);
  // The words come last, little-endian, then the CRC-32 of everything before it.
  assert.equal(view.getUint16(bytes.length - 6, true), 0x0001);
  assert.equal(view.getUint32(bytes.length - 4, true), crc32(bytes.subarray(0, bytes.length - 4)));
});

test('.bin refuses a flip of any single bit', () => {
  const bytes = encodeBin(sampleHeader(), sampleTable, sampleWords);
  // Bits in the magic, the version and the lengths that locate the checksum may be named differently;
  // everywhere else the checksum is what catches the flip.
  const afterName = 9 + bytes[8];
  const extraLength = 3;
  const lengthFields = new Set<number>([8]);
  for (const at of [afterName + 72, afterName + 76 + extraLength, afterName + 80 + extraLength + sampleTable.length]) {
    for (let k = 0; k < 4; k++) lengthFields.add(at + k);
  }
  for (let bit = 0; bit < 8 * bytes.length; bit++) {
    const damaged = bytes.slice();
    damaged[bit >> 3] ^= 1 << (bit & 7);
    const byte = bit >> 3;
    const expected = byte < 4 ? /not an llm-compression/ : byte === 4 ? /unsupported .bin format version/ : lengthFields.has(byte) ? /truncated|corrupt/ : /^corrupt: checksum mismatch/;
    assertOneLineError(() => decodeBin(damaged), expected, `bit ${bit}`);
  }
});

test('.bin refuses a file cut at any length', () => {
  const bytes = encodeBin(sampleHeader(), sampleTable, sampleWords);
  assertOneLineError(() => decodeBin(new Uint8Array(0)), /not an llm-compression \.bin file/);
  for (let len = 1; len < bytes.length; len++) {
    assertOneLineError(() => decodeBin(bytes.subarray(0, len)), /^truncated \.bin file/, `length ${len}`);
  }
});

test('.bin refuses trailing garbage, a wrong magic and an unknown version', () => {
  const bytes = encodeBin(sampleHeader(), sampleTable, sampleWords);
  assertOneLineError(() => decodeBin(Uint8Array.from([...bytes, 0])), /1 byte\(s\) of trailing garbage/);
  assertOneLineError(() => decodeBin(Uint8Array.from([...bytes, ...bytes])), /trailing garbage/);
  assertOneLineError(() => decodeBin(new TextEncoder().encode('{"tokens": [1, 2, 3]}')), /^not an llm-compression \.bin file/);
  assertOneLineError(() => decodeBin(Uint8Array.of(0x4c, 0x4c)), /^truncated/);
  assertOneLineError(() => decodeBin(Uint8Array.of(0x4c, 0x4d)), /^not an llm-compression/);
  const future = bytes.slice();
  future[4] = 3;
  assertOneLineError(() => decodeBin(withFixedCrc(future)), /^unsupported \.bin format version 3 \(this build reads version 2\)/);
  const old = bytes.slice();
  old[4] = 1;
  assertOneLineError(() => decodeBin(withFixedCrc(old)), /^unsupported \.bin format version 1: its float arithmetic decodes only on the kind of machine that made it/);
});

test('.bin refuses intact files with fields this version does not know', () => {
  const bytes = encodeBin(sampleHeader(), sampleTable, sampleWords);
  const patch = (at: number, value: number) => {
    const out = bytes.slice();
    out[at] = value;
    return withFixedCrc(out);
  };
  assertOneLineError(() => decodeBin(patch(5, 1)), /unknown flags 0x1/);
  assertOneLineError(() => decodeBin(patch(6, 3)), /unknown coder mode 3/);
  assertOneLineError(() => decodeBin(patch(7, 0)), /scaleBits 0 out of range/);
  assertOneLineError(() => decodeBin(patch(7, 32)), /scaleBits 32 out of range/);
  assertOneLineError(() => decodeBin(patch(9, 0xff)), /model name is not valid UTF-8/);
  const nameLength = bytes[8];
  assertOneLineError(() => decodeBin(patch(9 + nameLength + 43, 0x00_20)), /original length exceeds 2\^53/);
});

test('encodeBin validates the header', () => {
  const ok = sampleHeader();
  assert.throws(() => encodeBin({ ...ok, modelFingerprint: new Uint8Array(31) }, sampleTable, sampleWords), /modelFingerprint must be 32 bytes/);
  assert.throws(() => encodeBin({ ...ok, originalSha256Prefix: new Uint8Array(32) }, sampleTable, sampleWords), /originalSha256Prefix must be 16 bytes/);
  assert.throws(() => encodeBin({ ...ok, modelName: 'é'.repeat(128) }, sampleTable, sampleWords), /256 bytes of UTF-8, at most 255/);
  assert.throws(() => encodeBin({ ...ok, mode: 'fast' as never }, sampleTable, sampleWords), /mode must be 'rank', 'exact' or 'stored'/);
  assert.throws(() => encodeBin({ ...ok, scaleBits: 0 }, sampleTable, sampleWords), /scaleBits/);
  assert.throws(() => encodeBin({ ...ok, tokenCount: 2 ** 32 }, sampleTable, sampleWords), /tokenCount/);
  assert.throws(() => encodeBin({ ...ok, originalLength: -1 }, sampleTable, sampleWords), /originalLength/);
  assert.throws(() => encodeBin({ ...ok, contextWindow: 1.5 }, sampleTable, sampleWords), /contextWindow/);
});
