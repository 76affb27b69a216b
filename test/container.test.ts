import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { encodeTable } from '../src/ans.ts';
import { type BinContents, type BinHeader, BIN_VERSION, decodeBin, decodeEnd, encodeBin, encodeEnd, END_BYTES, frameOfFile, fileOfFrame, limitsFor, READABLE_VERSIONS, sha256, StreamCheck } from '../src/container.ts';
import { decodeExtra, encodeExtra, type Extra, SOLO_LAYOUT } from '../src/extra.ts';

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
  assert.deepEqual([...bytes.subarray(4, 9)], [10, 0, 0, 24, name.length]);
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
  const lengthFields = new Set<number>([5, 6, 8]); // the flags and the coder mode choose the layout (solo, compact or full)
  for (const at of [afterName + 84, afterName + 88 + extraLength, afterName + 92 + extraLength + sampleTable.length]) {
    for (let k = 0; k < 4; k++) lengthFields.add(at + k);
  }
  for (let bit = 0; bit < 8 * bytes.length; bit++) {
    const damaged = bytes.slice();
    damaged[bit >> 3] ^= 1 << (bit & 7);
    const byte = bit >> 3;
    // a version flipped to another readable one (5 to 4) reads on, and the checksum catches it
    const version = byte === 4 && !READABLE_VERSIONS.includes(damaged[4]);
    const expected = byte < 4 ? /not an llm-compression/ : version ? /unsupported .bin format version/ : lengthFields.has(byte) ? /truncated|corrupt|unsupported/ : /^corrupt: checksum mismatch/;
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
  future[4] = 11;
  assertOneLineError(() => decodeBin(withFixedCrc(future)), /^unsupported \.bin format version 11 \(this build reads versions 3, 4, 5, 6, 7, 8, 9 and 10\)/);
  for (const version of [3, 4, 5, 6, 7, 8, 9]) {
    const earlier = bytes.slice();
    earlier[4] = version;
    assert.deepEqual(decodeBin(withFixedCrc(earlier)).header, decodeBin(bytes).header, `version ${version} is read as version 10 without its additions`);
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
  assertOneLineError(() => decodeBin(patch(5, 2)), /unknown flags 0x2/);
  assertOneLineError(() => decodeBin(patch(6, 6)), /unknown coder mode 6/);
  assertOneLineError(() => decodeBin(patch(7, 0)), /scaleBits 0 out of range/);
  assertOneLineError(() => decodeBin(patch(7, 32)), /scaleBits 32 out of range/);
  assertOneLineError(() => decodeBin(patch(9, 0xff)), /model name is not valid UTF-8/);
  const nameLength = bytes[8];
  assertOneLineError(() => decodeBin(patch(9 + nameLength + 55, 0x00_20)), /original length exceeds 2\^53/);
  assertOneLineError(() => decodeBin(patch(9 + nameLength + 44, 200)), /corrupt \.bin file: 200 tokens cannot make 16 bytes/);
});

test("version 3's JSON extra field names only a graph a model folder can have", () => {
  const json = (graph: unknown) => new TextEncoder().encode(JSON.stringify({ vocabSize: 16384, batch: 64, graph, arithmetic: 'integer-1', dtype: 'q8', comment: null, escapedBytes: 0 }));
  const header = sampleHeader();
  assert.equal(decodeExtra(json('stepper'), header).graph, 'stepper');
  for (const graph of ['bogus', 'constructor', '__proto__', 'toString', 7]) {
    assertOneLineError(() => decodeExtra(json(graph), header), /^corrupt \.bin header: graph must be integer, stepper, coder or transformers$/, String(graph));
  }
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
  inOrder.frame(frame(0), BIN_VERSION);
  inOrder.frame(frame(1), BIN_VERSION);
  inOrder.end(end, BIN_VERSION);
  assert.deepEqual(inOrder.finish(), end);
  for (const [what, indices, pattern] of [
    ['swapped', [1, 0], /frame 1 is frame 2 of its file \(frames reordered, repeated or missing\)/],
    ['repeated', [0, 0], /frame 2 is frame 1 of its file/],
    ['one missing', [0], /the end record counts 2 frame\(s\) and 32 bytes, the file has 1 and 16/],
  ] as const) {
    const check = new StreamCheck();
    assertOneLineError(() => {
      for (const i of indices) check.frame(frame(i), BIN_VERSION);
      check.end(end, BIN_VERSION);
    }, pattern, what);
  }
  const foreign = new StreamCheck();
  foreign.frame(frame(0), BIN_VERSION);
  assertOneLineError(() => foreign.frame(frame(1, new Uint8Array(8)), BIN_VERSION), /frame 2 belongs to another file/);
  const cut = new StreamCheck();
  cut.frame(frame(0), BIN_VERSION);
  assertOneLineError(() => cut.finish(), /^truncated \.bin file: it ends after frame 1, without its end record/);
  // an empty input is one empty frame (or a solo record): an end record alone is no file a writer makes
  const alone = new StreamCheck();
  // records of two versions (two files put together, or a crafted one): each writer gives all its records one version
  const mixed = new StreamCheck();
  mixed.frame(frame(0), BIN_VERSION);
  assertOneLineError(() => mixed.frame(frame(1), BIN_VERSION - 1), /^corrupt \.bin file: frame 2 is of format version 9, the file's first record of 10/);
  const lateEnd = new StreamCheck();
  lateEnd.frame(frame(0), BIN_VERSION);
  lateEnd.frame(frame(1), BIN_VERSION);
  assertOneLineError(() => lateEnd.end(end, BIN_VERSION - 1), /^corrupt \.bin file: the end record is of format version 9/);
  assertOneLineError(() => alone.end({ ...end, frames: 0, length: 0, sha256Prefix: sha256(new Uint8Array(0)).subarray(0, 16) }, BIN_VERSION), /^corrupt \.bin file: an end record with no frame before it$/);
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

/** An exact-mode frame of the layout a solo record implies (what llmc writes by default), for `text`. */
function soloable(text: Uint8Array, overrides: Partial<BinHeader> = {}, extra: Partial<Extra> = {}): BinContents {
  const hash = sha256(text);
  const header = sampleHeader({
    mode: 'exact', scaleBits: 24, modelName: 'llmc-base-v2', streamId: hash.subarray(0, 8), originalLength: text.length, originalSha256Prefix: hash.subarray(0, 16),
    tokenCount: 5, contextWindow: 384, topN: 128, segmentLength: 2048,
    extra: encodeExtra({ vocabSize: 16384, batch: 64, graph: 'integer', arithmetic: 'integer-1', dtype: 'q8', comment: null, escapedBytes: 0, mixer: { version: 3, ...SOLO_LAYOUT.mixer }, ...extra }),
    ...overrides,
  });
  return { header, table: encodeTable([], []), words: sampleWords };
}

test('a file of one frame is a solo record where its layout allows: its layout, and everything it implies read back', () => {
  const text = new TextEncoder().encode('Call me Ishmael.');
  const frame = soloable(text);
  const file = fileOfFrame(encodeBin(frame.header, frame.table, frame.words));
  // magic, version 10, flags (solo | mixer), mode exact, 4 bytes of fingerprint, original length, tokens, window (2 bytes),
  // vocabulary (3 bytes), 4 bytes of hash, word count, the words, the CRC
  assert.equal(file.length, 7 + 4 + 1 + 1 + 2 + 3 + 4 + 1 + 2 * sampleWords.length + 4);
  assert.deepEqual([...file.subarray(4, 7)], [10, 1 | 2, 1]);
  assert.deepEqual(file.subarray(7, 11), frame.header.modelFingerprint.subarray(0, 4));
  const { frame: record, contents } = frameOfFile(file);
  assert.deepEqual(record, file);
  const { header } = contents;
  assert.deepEqual(header, { ...frame.header, modelName: '', modelFingerprint: frame.header.modelFingerprint.subarray(0, 4), streamId: new Uint8Array(8), originalSha256Prefix: frame.header.originalSha256Prefix.subarray(0, 4), solo: true });
  assert.deepEqual(decodeExtra(header.extra, header), decodeExtra(frame.header.extra, frame.header));
  assert.deepEqual([contents.table, contents.words], [frame.table, frame.words]);
  assert.deepEqual(encodeBin(header, contents.table, contents.words), file, 'a solo header encodes as the same record');

  const crlf = fileOfFrame(encodeBin(...Object.values(soloable(text, {}, { crlf: true, escapedBytes: 3, mixer: undefined })) as [BinHeader, Uint8Array, Uint16Array]));
  assert.equal(crlf[5], 1 | 4 | 8, 'CR LF and escaped bytes, no mixer');
  // version 7 wrote the mixer's version 2 as flag 16, version 1 without it, and one lane
  for (const [flags, version] of [[1 | 2 | 16, 2], [1 | 2, 1]]) {
    const older = file.slice();
    older[4] = 7;
    older[5] = flags;
    const { header: read } = decodeBin(withFixedCrc(older));
    assert.deepEqual(decodeExtra(read.extra, read).mixer, { version, ...SOLO_LAYOUT.mixer }, `a version 7 solo record's mixer of version ${version}`);
    assert.equal(decodeExtra(read.extra, read).lanes, undefined);
  }
  const flag16 = file.slice();
  flag16[4] = 8;
  flag16[5] |= 16;
  assertOneLineError(() => decodeBin(withFixedCrc(flag16)), /unknown flags 0x13/, 'version 8 has no flag 16');
  // from version 10, flag 16 is the mixer of version 5 with the solo layout's rates; in version 9 it was version 4's
  const pairs = { version: 5, ...SOLO_LAYOUT.mixer, biasRate: SOLO_LAYOUT.biasRate, pairRate: SOLO_LAYOUT.pairRate } as const;
  const biased = soloable(text, {}, { mixer: pairs });
  const biasedFile = fileOfFrame(encodeBin(biased.header, biased.table, biased.words));
  assert.deepEqual([biasedFile[4], biasedFile[5]], [10, 1 | 2 | 16]);
  const biasedRead = decodeBin(biasedFile).header;
  assert.deepEqual(decodeExtra(biasedRead.extra, biasedRead).mixer, pairs);
  assert.deepEqual(encodeBin(biasedRead, biased.table, biased.words), biasedFile, 'a solo header with both biases encodes as the same record');
  const nine = biasedFile.slice();
  nine[4] = 9;
  const nineRead = decodeBin(withFixedCrc(nine)).header;
  assert.deepEqual(decodeExtra(nineRead.extra, nineRead).mixer, { version: 4, ...SOLO_LAYOUT.mixer, biasRate: SOLO_LAYOUT.biasRate }, 'a version 9 solo record with flag 16: the token bias');
  // a full record of a version before a mixer's is refused: version 8 with mixer 4, version 9 with mixer 5
  const full = encodeBin(biased.header, biased.table, biased.words);
  assert.deepEqual(decodeExtra(decodeBin(full).header.extra, decodeBin(full).header).mixer?.pairRate, SOLO_LAYOUT.pairRate);
  const older = full.slice();
  older[4] = 9;
  assertOneLineError(() => decodeBin(withFixedCrc(older)), /mixer version 5 in a record of format version 9, older than the pair bias/);
  const tokenBiased = soloable(text, {}, { mixer: { version: 4, ...SOLO_LAYOUT.mixer, biasRate: SOLO_LAYOUT.biasRate } });
  const eight = encodeBin(tokenBiased.header, tokenBiased.table, tokenBiased.words);
  eight[4] = 8;
  assertOneLineError(() => decodeBin(withFixedCrc(eight)), /mixer version 4 in a record of format version 8/);
  // one lane a row of a step once a solo record's tokens fill a group of rows: implied, not written
  const long = new Uint8Array(2048 * 64 + 5);
  const laned = soloable(long, { tokenCount: 2048 * 64 + 1 }, { lanes: 64 });
  const lanedFile = fileOfFrame(encodeBin(laned.header, laned.table, laned.words));
  assert.equal(lanedFile[5], 1 | 2);
  assert.equal(decodeExtra(decodeBin(lanedFile).header.extra, decodeBin(lanedFile).header).lanes, 64);
  assert.deepEqual(decodeExtra(decodeBin(crlf).header.extra, decodeBin(crlf).header), { vocabSize: 16384, batch: 64, graph: 'integer', arithmetic: 'integer-1', dtype: 'q8', comment: null, escapedBytes: 3, crlf: true });

  for (const [what, other] of [
    ['rank mode', soloable(text, { mode: 'rank' })],
    ['another segment length', soloable(text, { segmentLength: 512 })],
    ['another precision', soloable(text, { scaleBits: 20 })],
    ['another batch', soloable(text, {}, { batch: 8 })],
    ['other mixer settings', soloable(text, {}, { mixer: { version: 3, ...SOLO_LAYOUT.mixer, minMatch: 4 } })],
    ['an older mixer', soloable(text, {}, { mixer: { version: 2, ...SOLO_LAYOUT.mixer } })],
    ['another bias rate', soloable(text, {}, { mixer: { ...pairs, biasRate: 13 } })],
    ['another pair rate', soloable(text, {}, { mixer: { ...pairs, pairRate: 13 } })],
    ['the token bias without the pairs', soloable(text, {}, { mixer: { version: 4, ...SOLO_LAYOUT.mixer, biasRate: SOLO_LAYOUT.biasRate } })],
    ['lanes where the tokens fill no group of rows', soloable(text, {}, { lanes: 2 })],
    ['one lane where they fill one', soloable(new Uint8Array(2048 * 64), { tokenCount: 2048 * 64 })],
    ['float arithmetic', soloable(text, {}, { arithmetic: 'float', graph: 'stepper' })],
    ['a comment', soloable(text, {}, { comment: 'hi' })],
  ] as const) {
    const full = fileOfFrame(encodeBin(other.header, other.table, other.words));
    assert.equal(full.length, encodeBin(other.header, other.table, other.words).length + END_BYTES, `${what}: the frame and its end record`);
    assert.throws(() => encodeBin({ ...other.header, solo: true }, other.table, other.words), /not the one a solo record implies/, what);
  }

  const stored = fileOfFrame(encodeBin(sampleHeader({ mode: 'stored', scaleBits: 16, modelName: '', modelFingerprint: new Uint8Array(32), tokenCount: 0, contextWindow: 0, topN: 0, extra: new Uint8Array(0) }), text, new Uint16Array(0)));
  assert.equal(stored.length, 7 + 1 + 4 + 1 + text.length + 4, 'a stored solo record: 17 bytes and the text');
  assert.deepEqual(frameOfFile(stored).contents.table, text);
});

test('a solo record refuses every flipped bit, every cut, bytes after it, crafted values, and a place after a frame', () => {
  const text = new TextEncoder().encode('Call me Ishmael.');
  const { header, table, words } = soloable(text, {}, { escapedBytes: 2 });
  const file = fileOfFrame(encodeBin(header, table, words));
  for (let bit = 4 * 8; bit < 8 * file.length; bit++) {
    const damaged = file.slice();
    damaged[bit >> 3] ^= 1 << (bit & 7);
    assertOneLineError(() => frameOfFile(damaged), /corrupt|truncated|unsupported/, `bit ${bit}`);
  }
  for (let len = 1; len < file.length; len++) assertOneLineError(() => frameOfFile(file.subarray(0, len)), /^truncated \.bin file/, `length ${len}`);
  assertOneLineError(() => frameOfFile(Uint8Array.from([...file, 0])), /1 byte\(s\) of trailing garbage/);
  assertOneLineError(() => frameOfFile(Uint8Array.from([...file, ...file])), /trailing garbage/);

  const solo = decodeBin(file).header;
  const patched = (at: number, values: number[], replaced = 1) => withFixedCrc(Uint8Array.from([...file.subarray(0, at), ...values, ...file.subarray(at + replaced)]));
  const lengthAt = 11; // after magic, version, flags, mode and the fingerprint
  assertOneLineError(() => decodeBin(patched(5, [file[5] | 0x20])), /unknown flags 0x2b/);
  assertOneLineError(() => decodeBin(patched(5, [(file[5] & ~2) | 0x10])), /unknown flags 0x19/);
  assertOneLineError(() => decodeBin(patched(6, [0])), /no solo record has coder mode 0/);
  assertOneLineError(() => decodeBin(patched(4, [5])), /^corrupt \.bin file: a solo record of format version 5, older than solo records$/);
  assertOneLineError(() => decodeBin(patched(lengthAt, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), /original length is not a varint of at most 8 bytes/);
  assertOneLineError(() => decodeBin(patched(lengthAt, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), limitsFor(2 ** 31)), /original claims 34359738368 bytes, more than the 4194304 allowed/);
  assertOneLineError(() => decodeBin(patched(lengthAt + 1, [200, 1])), /200 tokens cannot make 16 bytes/);
  const vocabAt = lengthAt + 1 + 1 + 1 + 2;
  assertOneLineError(() => decodeBin(patched(vocabAt, [0x80, 0x80, 0x80, 0x10], 3)), /vocabSize must be an integer in 2\.\.16777216/);

  const check = new StreamCheck();
  check.frame(decodeBin(encodeBin(sampleHeader(), sampleTable, sampleWords)).header, BIN_VERSION);
  assertOneLineError(() => check.frame(solo, BIN_VERSION), /frame 2 is a whole file by itself \(a solo record\)/);
  const after = new StreamCheck();
  after.frame(solo, BIN_VERSION);
  assert.deepEqual(after.finish(), { streamId: new Uint8Array(8), frames: 1, length: text.length, sha256Prefix: sha256(text).subarray(0, 4) }, 'a solo record is its own end');
  assertOneLineError(() => after.frame(solo, BIN_VERSION), /a frame after a whole file's solo record/);
});
