import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { type BinHeader, decodeBin, decodeEnd, encodeBin, encodeEnd, END_BYTES, frameOfFile, fileOfFrame, limitsFor, READABLE_VERSIONS, sha256, StreamCheck } from '../src/container.ts';

function sampleHeader(overrides: Partial<BinHeader> = {}): BinHeader {
  const original = new TextEncoder().encode('Call me Ishmael.');
  return {
    mode: 'rank',
    scaleBits: 24,
    modelName: 'Xenova/gpt2 · ünïcode',
    modelFingerprint: sha256(new TextEncoder().encode('weights')),
    streamId: sha256(original).subarray(0, 8),
    frameIndex: 0,
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
  const fixed = 4 + 1 + 1 + 1 + 1 + 1 + 32 + 8 + 4 + 4 + 8 + 16 + 4 + 4 + 4 + 4 + 4 + 4 + 4;
  assert.equal(bytes.length, fixed + name.length + header.extra.length + sampleTable.length + 2 * sampleWords.length);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'LLMC');
  assert.deepEqual([...bytes.subarray(4, 9)], [5, 0, 0, 24, name.length]);
  const view = new DataView(bytes.buffer);
  const afterName = 9 + name.length;
  assert.deepEqual(bytes.subarray(afterName, afterName + 32), header.modelFingerprint);
  assert.deepEqual(bytes.subarray(afterName + 32, afterName + 40), header.streamId);
  assert.equal(view.getUint32(afterName + 40, true), header.frameIndex);
  assert.equal(view.getUint32(afterName + 44, true), header.tokenCount);
  assert.equal(view.getBigUint64(afterName + 48, true), BigInt(header.originalLength));
  assert.equal(view.getUint32(afterName + 72, true), header.contextWindow);
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
  const lengthFields = new Set<number>([6, 8]); // the coder mode chooses the layout (compact or full)
  for (const at of [afterName + 84, afterName + 88 + extraLength, afterName + 92 + extraLength + sampleTable.length]) {
    for (let k = 0; k < 4; k++) lengthFields.add(at + k);
  }
  for (let bit = 0; bit < 8 * bytes.length; bit++) {
    const damaged = bytes.slice();
    damaged[bit >> 3] ^= 1 << (bit & 7);
    const byte = bit >> 3;
    // a version flipped to another readable one (5 to 4) reads on, and the checksum catches it
    const version = byte === 4 && !READABLE_VERSIONS.includes(damaged[4]);
    const expected = byte < 4 ? /not an llm-compression/ : version ? /unsupported .bin format version/ : lengthFields.has(byte) ? /truncated|corrupt/ : /^corrupt: checksum mismatch/;
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
  future[4] = 6;
  assertOneLineError(() => decodeBin(withFixedCrc(future)), /^unsupported \.bin format version 6 \(this build reads versions 3, 4 and 5\)/);
  for (const version of [3, 4]) {
    const earlier = bytes.slice();
    earlier[4] = version;
    assert.deepEqual(decodeBin(withFixedCrc(earlier)).header, decodeBin(bytes).header, `version ${version} is read as version 5 without its additions`);
  }
  const before = bytes.slice();
  before[4] = 2;
  assertOneLineError(() => decodeBin(withFixedCrc(before)), /^unsupported \.bin format version 2: decode it with llm-compression 0\.2 \(commit 57fe198\)/);
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
  assertOneLineError(() => decodeBin(patch(6, 6)), /unknown coder mode 6/);
  assertOneLineError(() => decodeBin(patch(7, 0)), /scaleBits 0 out of range/);
  assertOneLineError(() => decodeBin(patch(7, 32)), /scaleBits 32 out of range/);
  assertOneLineError(() => decodeBin(patch(9, 0xff)), /model name is not valid UTF-8/);
  const nameLength = bytes[8];
  assertOneLineError(() => decodeBin(patch(9 + nameLength + 55, 0x00_20)), /original length exceeds 2\^53/);
  assertOneLineError(() => decodeBin(patch(9 + nameLength + 44, 200)), /corrupt \.bin file: 200 tokens cannot make 16 bytes/);
});

test('encodeBin validates the header', () => {
  const ok = sampleHeader();
  assert.throws(() => encodeBin({ ...ok, modelFingerprint: new Uint8Array(31) }, sampleTable, sampleWords), /modelFingerprint must be 32 bytes/);
  assert.throws(() => encodeBin({ ...ok, originalSha256Prefix: new Uint8Array(32) }, sampleTable, sampleWords), /originalSha256Prefix must be 16 bytes/);
  assert.throws(() => encodeBin({ ...ok, modelName: 'é'.repeat(128) }, sampleTable, sampleWords), /256 bytes of UTF-8, at most 255/);
  assert.throws(() => encodeBin({ ...ok, mode: 'fast' as never }, sampleTable, sampleWords), /mode must be one of rank, exact, stored, brotli/);
  assert.throws(() => encodeBin({ ...ok, scaleBits: 0 }, sampleTable, sampleWords), /scaleBits/);
  assert.throws(() => encodeBin({ ...ok, tokenCount: 2 ** 32 }, sampleTable, sampleWords), /tokenCount/);
  assert.throws(() => encodeBin({ ...ok, originalLength: -1 }, sampleTable, sampleWords), /originalLength/);
  assert.throws(() => encodeBin({ ...ok, contextWindow: 1.5 }, sampleTable, sampleWords), /contextWindow/);
});

test('an end record binds the frames: count, total length and hash, in one stream and in order', () => {
  const frame = (frameIndex: number, streamId = sampleHeader().streamId) => decodeBin(encodeBin(sampleHeader({ frameIndex, streamId }), sampleTable, sampleWords)).header;
  const end = { streamId: sampleHeader().streamId, frames: 2, length: 32, sha256Prefix: sha256(Uint8Array.of(1)).subarray(0, 16) };
  const record = encodeEnd(end);
  assert.equal(record.length, END_BYTES);
  assert.deepEqual(decodeEnd(record), end);
  assertOneLineError(() => decodeEnd(record.subarray(0, 20)), /^truncated \.bin file: it ends inside the end record/);
  const flipped = record.slice();
  flipped[20] ^= 1;
  assertOneLineError(() => decodeEnd(flipped), /checksum mismatch in the end record/);

  const inOrder = new StreamCheck();
  inOrder.frame(frame(0));
  inOrder.frame(frame(1));
  inOrder.end(end);
  assert.deepEqual(inOrder.finish(), end);
  for (const [what, indices, pattern] of [
    ['swapped', [1, 0], /frame 1 is frame 2 of its file \(frames reordered, repeated or missing\)/],
    ['repeated', [0, 0], /frame 2 is frame 1 of its file/],
    ['one missing', [0], /the end record counts 2 frame\(s\) and 32 bytes, the file has 1 and 16/],
  ] as const) {
    const check = new StreamCheck();
    assertOneLineError(() => {
      for (const i of indices) check.frame(frame(i));
      check.end(end);
    }, pattern, what);
  }
  const foreign = new StreamCheck();
  foreign.frame(frame(0));
  assertOneLineError(() => foreign.frame(frame(1, new Uint8Array(8))), /frame 2 belongs to another file/);
  const cut = new StreamCheck();
  cut.frame(frame(0));
  assertOneLineError(() => cut.finish(), /^truncated \.bin file: it ends after frame 1, without its end record/);
});

test('a file of one frame is refused without its end record, with a foreign one, or with bytes after it', () => {
  const frame = encodeBin(sampleHeader(), sampleTable, sampleWords);
  const file = fileOfFrame(frame);
  assert.deepEqual(frameOfFile(file).frame, frame);
  assertOneLineError(() => frameOfFile(frame), /without its end record/);
  assertOneLineError(() => frameOfFile(Uint8Array.from([...file, 1, 2])), /trailing garbage after the end record/);
  const other = fileOfFrame(encodeBin(sampleHeader({ streamId: new Uint8Array(8) }), sampleTable, sampleWords));
  assertOneLineError(() => frameOfFile(Uint8Array.from([...frame, ...other.subarray(other.length - END_BYTES)])), /end record belongs to another file/);
});

test('lengths a frame claims are refused before they are read when over the limits', () => {
  const big = encodeBin(sampleHeader({ originalLength: 2 ** 40 }), sampleTable, sampleWords);
  assertOneLineError(() => decodeBin(big, limitsFor(2 ** 31)), /claims 1099511627776 bytes, more than the 4194304 allowed \(raise --memory/);
  const padded = encodeBin(sampleHeader(), sampleTable, new Uint16Array(40_000));
  assertOneLineError(() => decodeBin(padded, limitsFor(2 ** 31)), /its frame claims \d+ bytes, more than the 65568 allowed \(it cannot be an honest frame\)/);
  assert.equal(decodeBin(padded).words.length, 40_000, 'without limits, only the file bounds it');
});

test('a frame without a model (stored, brotli) has the compact 51-byte header, and refuses any flipped bit', () => {
  const payload = new TextEncoder().encode('payload bytes');
  for (const mode of ['stored', 'brotli'] as const) {
    const header = sampleHeader({ mode, scaleBits: 16, modelName: '', modelFingerprint: new Uint8Array(32), tokenCount: 0, contextWindow: 0, topN: 0, extra: new Uint8Array(0) });
    const bytes = encodeBin(header, payload, new Uint16Array(0));
    assert.equal(bytes.length, 51 + payload.length);
    assert.deepEqual(decodeBin(bytes), { header, table: payload, words: new Uint16Array(0) });
    assert.throws(() => encodeBin(header, payload, Uint16Array.of(1)), /no words/);
    for (let bit = 5 * 8; bit < 8 * bytes.length; bit++) {
      const damaged = bytes.slice();
      damaged[bit >> 3] ^= 1 << (bit & 7);
      assertOneLineError(() => decodeBin(damaged), /corrupt|truncated|unknown|unsupported/, `${mode} bit ${bit}`);
    }
  }
});
