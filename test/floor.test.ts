// The classical floor under the model: zstd, brotli and stored frames, through the library and the real llmc, on
// real files. Each block gets the smallest frame; a frame's coder id that is changed, a stream that
// decodes to another length, and streams that would expand to gigabytes under a small header are refused in one
// line, with bounded memory and no output kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, constants, crc32 } from 'node:zlib';
import * as zstd from '@bokuweb/zstd-wasm';
import { type BinHeader, decodeBin, encodeBin, endOfOnly, fileOfFrame, soloOf } from '../src/container.ts';
import { rng } from '../src/fuzz.ts';
import { onlyFrame } from '../src/range.ts';
import { cmDecode, cmDecodeReference, cmEncode, cmEncodeReference } from '../src/cm.ts';
import { projectsAbove } from '../src/codec.ts';
import { nativeEngine } from '../src/native.ts';
import { brotliFrame, bytesOfBin, bytesOfModelFreeFrame, classicalFrames, cmFrame, storedFrame, zstdFrame } from '../src/stored.ts';
import { sha256Prefix } from '../src/tokenize.ts';
import { ROOT, SCARLET, tempDir } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
// Real files: the tiny model's tokenizer (JSON, whose smallest frame is cm's), and the committed heatmap figure (a PNG).
const TOKENIZER = readFileSync(join(ROOT, 'models', 'llmc-tiny', 'tokenizer.json'));
const HEATMAP = readFileSync(join(ROOT, 'figures', 'heatmap', 'heatmap.png'));

/** llmc in `dir` under /usr/bin/time: status, stdout, stderr without time's line, and the peak RSS in MB. */
function llmc(dir: string, args: string[], input: Uint8Array | string = '') {
  const r = spawnSync('/usr/bin/time', ['-f', 'peak %M', process.execPath, '--import', TSX, join(ROOT, 'scripts', 'llmc.ts'), '-q', ...TINY, ...args], { cwd: dir, input, maxBuffer: 1 << 28 });
  const lines = r.stderr.toString().trim().split('\n').filter((l) => !l.startsWith('Command exited with non-zero status'));
  const peakMB = Number(/^peak (\d+)$/.exec(lines.pop()!)![1]) / 1024;
  return { status: r.status, stdout: r.stdout, stderr: lines.join('\n'), peakMB };
}

/** A file of one model-free frame with `payload` under a header that claims `header` (a valid checksum). */
function craftedFile(mode: BinHeader['mode'], payload: Uint8Array, header: Partial<BinHeader>): Uint8Array {
  const base = decodeBin(EMPTY_FRAME).header;
  return fileOfFrame(encodeBin({ ...base, mode, ...header }, payload, new Uint16Array(0)));
}
const EMPTY_FRAME = await zstdFrame(new Uint8Array(0), onlyFrame(sha256Prefix(new Uint8Array(0))));

/** llmc -d on `file` in a fresh folder: refused in one line, exit 1, nothing left but the input. */
function refused(t: { after: (fn: () => void) => void }, file: Uint8Array, pattern: RegExp, what: string) {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x.bin'), file);
  const r = llmc(dir, ['-d', 'x.bin']);
  assert.equal(r.status, 1, `${what}: ${r.stderr}`);
  assert.equal(r.stderr.split('\n').length, 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, pattern, what);
  assert.deepEqual(readdirSync(dir), ['x.bin'], `${what}: no output kept`);
  return r;
}

test('zstd, brotli and stored frames round-trip, and their payloads are standard .zst and brotli streams and the bytes', async (t) => {
  const next = rng(3);
  const inputs = [new Uint8Array(0), Uint8Array.of(0x41), SCARLET.subarray(0, 5000), Buffer.from(Array.from({ length: 3000 }, () => Math.floor(next() * 256))), HEATMAP];
  for (const bytes of inputs) {
    const place = onlyFrame(sha256Prefix(bytes));
    const frames = [['zstd', await zstdFrame(bytes, place), ['zstd', '-d', '-c']], ['brotli', brotliFrame(bytes, place), ['brotli', '-d', '-c']], ['stored', storedFrame(bytes, place), ['cat']]] as const;
    for (const [name, frame, cli] of frames) {
      const contents = decodeBin(frame);
      assert.equal(contents.header.mode, name);
      assert.equal(frame.length, 51 + contents.table.length, 'the compact header');
      assert.deepEqual(Buffer.from(await bytesOfModelFreeFrame(contents)), Buffer.from(bytes), `${name}, ${bytes.length} bytes`);
      assert.deepEqual(Buffer.from(await bytesOfBin(fileOfFrame(frame))), Buffer.from(bytes), `bytesOfBin, ${name}`);
      const standard = spawnSync(cli[0], cli.slice(1), { input: contents.table });
      if (standard.error) t.diagnostic(`${cli[0]} not found: its decoding not checked`);
      else assert.deepEqual(standard.stdout, Buffer.from(bytes), `${cli.join(' ')}, ${bytes.length} bytes`);
    }
  }
});

/** Blocks of 40,000 bytes where each classical coder wins, from fixed random bytes: 5 kB 8 times (zstd), 20 kB twice (brotli). */
const next = rng(5);
const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
const FIVE_K = randomBytes(5000);
const TWENTY_K = randomBytes(20000);
const REPEATS = Buffer.concat(Array.from({ length: 8 }, () => FIVE_K));
const TWICE = Buffer.concat([TWENTY_K, TWENTY_K]);

test('llmc gives each block the smallest frame: zstd, brotli or cm, and gives them back', async (t) => {
  const dir = tempDir(t);
  for (const [name, bytes, coder] of [['repeats.dat', REPEATS, 'zstd'], ['twice.dat', TWICE, 'brotli'], ['tokenizer.json', TOKENIZER, 'cm']] as const) {
    const place = onlyFrame(sha256Prefix(bytes));
    const frames = [...(await classicalFrames(bytes, place)), { coder: 'cm', frame: cmFrame(bytes, place) }];
    const smallest = frames.reduce((a, b) => (b.frame.length <= a.frame.length ? b : a));
    assert.equal(smallest.coder, coder, `${name}: ${frames.map((f) => `${f.coder} ${f.frame.length}`).join(', ')} (the data changed? bench/floor.ts finds others)`);
    assert.ok(frames.every((f) => f === smallest || smallest.frame.length < f.frame.length), `${name}: ${coder} beats the others`);

    writeFileSync(join(dir, name), bytes);
    // rank mode: the tiny model's frame stays far behind on these (exact mode, as the model improves, may not)
    const c = llmc(dir, ['-v', '--coder', 'rank', name]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, new RegExp(`1 frame \\(${coder} 1\\)`), `${name}: ${c.stderr}`);
    const file = readFileSync(join(dir, `${name}.bin`));
    assert.equal(file.length, soloOf(smallest.frame)!.length, `${name}: the ${coder} frame as a solo record, the model's was larger`);
    const listed = llmc(dir, ['-l', `${name}.bin`]).stdout.toString().split('\n')[1].split('\t');
    assert.equal(listed[5], coder);
    const d = llmc(dir, ['-d', '-c', '-v', `${name}.bin`]);
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(d.stdout, bytes, `${name} round trip`);
  }
});

test('several coders in one file: -v names each frame\'s, and the file decodes', (t) => {
  const dir = tempDir(t);
  // Four blocks of --block bytes or less, each cut after its last line end: random bytes (stored), 5 kB of random
  // bytes 8 times (zstd), 20 kB twice (brotli), each ending in a line end, then lines of the tokenizer, the rest (cm).
  const size = REPEATS.length + 1;
  const random = randomBytes(size);
  random[size - 1] = 0x0a;
  const lines = TOKENIZER.subarray(0, TOKENIZER.lastIndexOf(0x0a, size - 1) + 1);
  const blocks = [random, Buffer.concat([REPEATS, Buffer.from('\n')]), Buffer.concat([TWICE, Buffer.from('\n')]), lines];
  const c = llmc(dir, ['-v', '-c', '--coder', 'rank', '--block', String(size)], Buffer.concat(blocks));
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /4 frames \(stored 1, zstd 1, brotli 1, cm 1\)/, c.stderr);
  const coders = ['stored', 'zstd', 'brotli', 'cm'];
  assert.match(c.stderr, new RegExp(blocks.map((b, i) => `frame ${i + 1}: ${b.length} -> ${i ? '\\d+' : size + 51} bytes \\(${coders[i]}\\)`).join('\n  ')), c.stderr);
  const d = llmc(dir, ['-d', '-c', '-v'], c.stdout);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stderr, new RegExp(blocks.map((b, i) => `frame ${i + 1}: \\d+ -> ${b.length} bytes \\(${coders[i]}\\)`).join('\n  ')), d.stderr);
  assert.deepEqual(d.stdout, Buffer.concat(blocks));
});

test('cm frames round-trip on text, binary, empty and one-byte inputs, and refuse a cut or damaged stream', async () => {
  const inputs = [new Uint8Array(0), Uint8Array.of(0x41), Uint8Array.of(0), SCARLET.subarray(0, 20000), HEATMAP.subarray(0, 20000), TOKENIZER, randomBytes(3000)];
  for (const bytes of inputs) {
    const place = onlyFrame(sha256Prefix(bytes));
    const frame = cmFrame(bytes, place);
    const contents = decodeBin(frame);
    assert.equal(contents.header.mode, 'cm');
    assert.equal(frame.length, 51 + contents.table.length, 'the compact header');
    assert.deepEqual(Buffer.from(await bytesOfModelFreeFrame(contents)), Buffer.from(bytes), `${bytes.length} bytes`);
    assert.deepEqual(Buffer.from(cmDecode(cmEncode(bytes), bytes.length)), Buffer.from(bytes));
  }
  // where short contexts tell much, far below brotli (bench/compare.sh has its numbers on the bench set)
  const sizes = { cm: cmEncode(TOKENIZER).length, brotli: brotliCompressSync(TOKENIZER, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length };
  assert.ok(sizes.cm < 0.7 * sizes.brotli, `the tokenizer: ${JSON.stringify(sizes)}`);
  const bytes = SCARLET.subarray(0, 5000);
  const stream = cmEncode(bytes);
  const header = { originalLength: bytes.length, originalSha256Prefix: Buffer.from(sha256Prefix(bytes), 'hex') };
  await assert.rejects(bytesOfBin(craftedFile('cm', stream.subarray(0, stream.length >> 1), header)), { message: /^corrupt cm frame: the stream ends early$/ });
  const flipped = stream.slice();
  flipped[100] ^= 0x10;
  // a flipped byte derails the decoder: it runs out of stream, or makes other bytes than the hash's
  await assert.rejects(bytesOfBin(craftedFile('cm', flipped, header)), { message: /^(corrupt cm frame: the stream ends early|cm bytes do not match the original's hash: corrupt \.bin)$/ });
  await assert.rejects(bytesOfBin(craftedFile('cm', stream, { ...header, originalLength: bytes.length - 1 })), { message: /^cm bytes do not match the original's hash: corrupt \.bin$/ });
});

test('cm in C (native/cm.c) writes the TypeScript reference\'s stream and reads it, gives up where it does, and refuses a cut stream', (t) => {
  const native = nativeEngine();
  if (!native) return t.skip('the native addon did not build');
  const log = Buffer.from(Array.from({ length: 3000 }, (_, i) => `2026-12-0${1 + (i % 9)} 10:${String(i % 60).padStart(2, '0')}:07 status installed libfoo${i % 13}:amd64 1.${i % 7}\n`).join(''));
  const inputs = [new Uint8Array(0), Uint8Array.of(0x41), SCARLET.subarray(0, 60000), TOKENIZER, randomBytes(5000), log, REPEATS];
  for (const bytes of inputs) {
    const reference = cmEncodeReference(bytes)!;
    const fast: Uint8Array = native.cmEncode(bytes, Infinity)!;
    assert.deepEqual(Buffer.from(fast), Buffer.from(reference), `${bytes.length} bytes: the same stream`);
    assert.deepEqual(Buffer.from(native.cmDecode(reference, bytes.length)), Buffer.from(bytes));
    assert.deepEqual(Buffer.from(cmDecodeReference(fast, bytes.length)), Buffer.from(bytes));
    // giving up: a ceiling just under and just over the stream's size, a quarter of the way or more
    for (const ceiling of [reference.length / 2, reference.length * 0.9, reference.length * 1.1, reference.length * 4]) {
      assert.equal(native.cmEncode(bytes, ceiling) === null, cmEncodeReference(bytes, ceiling) === undefined, `${bytes.length} bytes, ceiling ${ceiling}`);
    }
  }
  assert.equal(cmEncodeReference(log, 10), undefined, 'a small ceiling gives up');
  const stream = native.cmEncode(SCARLET.subarray(0, 5000), Infinity)!;
  assert.throws(() => native.cmDecode(stream.subarray(0, stream.length >> 1), 5000), { message: 'the stream ends early' });
  assert.throws(() => cmDecodeReference(stream.subarray(0, stream.length >> 1), 5000), { message: 'the stream ends early' });
});

test('a coder is given up on its bits so far and the rest at the rate of the latter half of what it has done', () => {
  // the first position of `giveUp`'s that stops a coder spending bitsAt(done) bits on 10,000 positions, checked every 500
  const stopsAt = (bitsAt: (done: number) => number, ceiling: number) => {
    const giveUp = projectsAbove(ceiling);
    for (let done = 500; done <= 10_000; done += 500) if (giveUp(bitsAt(done), done, 10_000)) return done;
    return undefined;
  };
  // 8 bits a position throughout: 10,000 bytes, which its first quarter foretells
  const steady = (done: number) => 8 * done;
  assert.equal(stopsAt(steady, 9_999), 2_500);
  assert.equal(stopsAt(steady, 10_000), undefined);
  // a coder that learns: 8 bits a position for the first 1,000, then 1 (2,125 bytes in all). At a quarter the start's
  // rate projects 4,750 bytes; the latter half's (1,250..2,500) projects the whole exactly.
  const learning = (done: number) => 8 * Math.min(done, 1_000) + Math.max(0, done - 1_000);
  assert.equal(stopsAt(learning, 2_125), undefined);
  assert.equal(stopsAt(learning, 2_124), 2_500);
  // over a thousand checks (it forgets what lies before the half), each answer is the rule's from every check: a
  // ceiling just below the projection gives up at that check, one just above does not
  const total = 400_000, checks = Array.from({ length: 1_000 }, (_, i) => (i + 1) * 200);
  const bitsAt = (done: number) => 3 * done + 40_000 * Math.sin(done / 37_000) ** 2;
  const projection = (i: number) => {
    const done = checks[i], bits = bitsAt(done);
    const from = [0, ...checks.slice(0, i)].filter((d) => 2 * d <= done).at(-1)!;  // the last check at or before the half
    return (bits + ((bits - bitsAt(from)) * (total - done)) / (done - from)) / 8;
  };
  const answerAt = (i: number, ceiling: number) => {
    const giveUp = projectsAbove(ceiling);
    return checks.slice(0, i + 1).map((done) => giveUp(bitsAt(done), done, total)).at(-1);
  };
  for (let i = 499; i < checks.length; i++) {
    assert.equal(answerAt(i, projection(i) * (1 - 1e-9)), true, `check ${i}`);
    assert.equal(answerAt(i, projection(i) * (1 + 1e-9)), false, `check ${i}`);
  }
});

test('a frame whose coder id is changed is refused in one line, with no output', async (t) => {
  const bytes = SCARLET.subarray(0, 4000);
  const place = onlyFrame(sha256Prefix(bytes));
  const [zstded, brotlied, stored, cmed] = [await zstdFrame(bytes, place), brotliFrame(bytes, place), storedFrame(bytes, place), cmFrame(bytes, place)];
  // A frame of the model's layout (rank mode, nothing coded), so that its checksum passes and its coder id is read.
  const modelLayout = encodeBin({ ...decodeBin(EMPTY_FRAME).header, mode: 'rank' }, new Uint8Array(0), new Uint16Array(0));
  /** The frame with byte 6 (the coder mode) set to `code`, its checksum fixed unless `keepCrc`, and the end record of `ending`'s file. */
  const recoded = (frame: Uint8Array, code: number, keepCrc = false, ending = frame) => {
    const out = frame.slice();
    out[6] = code;
    if (!keepCrc) new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
    return Buffer.concat([out, endOfOnly(decodeBin(ending).header)]);
  };
  /** A file of one frame with its records' version byte set to `version` (their checksums fixed). */
  const versioned = (file: Uint8Array, version: number) => {
    const out = Buffer.from(file);
    const frameEnd = out.length - 47;
    for (const [from, to] of [[0, frameEnd], [frameEnd, out.length]]) {
      out[from + 4] = version;
      out.writeUInt32LE(crc32(out.subarray(from, to - 4)), to - 4);
    }
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['zstd read as brotli', recoded(zstded, 3), /frame 1: corrupt brotli frame/],
    ['zstd read as stored', recoded(zstded, 2), /frame 1: corrupt stored frame: its stream decodes to \d+ bytes, its header says 4000/],
    ['brotli read as zstd', recoded(brotlied, 4), /frame 1: corrupt zstd frame: it is not a zstd frame/],
    ['brotli read as stored', recoded(brotlied, 2), /frame 1: corrupt stored frame: its stream decodes to \d+ bytes, its header says 4000/],
    ['stored read as zstd', recoded(stored, 4), /frame 1: corrupt zstd frame: it is not a zstd frame/],
    ['stored read as brotli', recoded(stored, 3), /frame 1: corrupt brotli frame/],
    ['zstd read as rank', recoded(zstded, 0), /frame 1: refused \.bin frame: its original claims \d+ bytes/],
    ['zstd read as cm', recoded(zstded, 5), /frame 1: (corrupt cm frame: the stream ends early|cm bytes do not match the original's hash)/],
    ['cm read as brotli', recoded(cmed, 3), /frame 1: corrupt brotli frame/],
    ['cm read as zstd', recoded(cmed, 4), /frame 1: corrupt zstd frame: it is not a zstd frame/],
    ['cm read as stored', recoded(cmed, 2), /frame 1: corrupt stored frame: its stream decodes to \d+ bytes, its header says 4000/],
    ['cm in a record of version 6, before cm', versioned(recoded(cmed, 5), 6), /frame 1: corrupt \.bin file: coder mode 5 \(cm\) in a record of format version 6, older than cm frames$/],
    ['zstd read as mode 6, unknown', recoded(zstded, 6), /frame 1: refused \.bin frame: its original claims \d+ bytes/],
    ['a model frame as mode 6, unknown', recoded(modelLayout, 6, false, EMPTY_FRAME), /frame 1: unsupported \.bin file: unknown coder mode 6$/],
    ['a model frame as mode 7, unknown', recoded(modelLayout, 7, false, EMPTY_FRAME), /frame 1: unsupported \.bin file: unknown coder mode 7$/],
    ['zstd changed to brotli, checksum kept', recoded(zstded, 3, true), /checksum mismatch/],
  ];
  for (const [what, file, pattern] of cases) refused(t, file, pattern, what);
});

test('streams that decode to another length than their header says are refused', async () => {
  const bytes = SCARLET.subarray(0, 1000);
  const header = { originalLength: 1001, originalSha256Prefix: Buffer.from(sha256Prefix(bytes), 'hex') };
  await assert.rejects(bytesOfBin(craftedFile('stored', bytes, header)), { message: /^corrupt stored frame: its stream decodes to 1000 bytes, its header says 1001$/ });
  await assert.rejects(bytesOfBin(craftedFile('brotli', brotliCompressSync(bytes), header)), { message: /corrupt brotli frame: its stream decodes to 1000 bytes, its header says 1001$/ });
  // zstd's header says its size: one that is not the frame's is refused before anything is decoded
  await assert.rejects(bytesOfBin(craftedFile('zstd', zstd.compress(bytes, 3), header)), { message: /corrupt zstd frame: its stream declares 1000 bytes, its header 1001$/ });
  await assert.rejects(bytesOfBin(craftedFile('brotli', brotliCompressSync(bytes).subarray(0, 200), { ...header, originalLength: 1000 })), { message: /^corrupt brotli frame: / });
  const zstded = zstd.compress(bytes, 3);
  await assert.rejects(bytesOfBin(craftedFile('zstd', zstded.subarray(0, zstded.length - 2), { ...header, originalLength: 1000 })), { message: /^corrupt zstd frame: the stream ends early \(zstd error 72\)$/ });
});

test('bombs: zstd, brotli and cm streams that expand past a 1 MiB header are refused with bounded memory', async (t) => {
  const claimed = 1 << 20;
  const most = 2 * claimed + (1 << 16); // the most payload a 1 MiB frame may carry
  const zeros = Buffer.alloc(64 << 20);
  const header = { originalLength: claimed, originalSha256Prefix: new Uint8Array(16) };
  /** As many copies of a stream of the 64 MiB as the payload may hold (concatenated streams decode as one), and the MiB they expand to. */
  const copies = (stream: Uint8Array, first: Uint8Array = stream) => {
    const n = Math.floor((most - first.length) / stream.length) + 1;
    return { payload: Buffer.concat([first, ...Array.from({ length: n - 1 }, () => stream)]), mib: 64 * n };
  };

  const zstdHonest = zstd.compress(zeros, 19);
  assert.equal(zstdHonest[4] >> 6, 2, 'a 4-byte content size');
  const zstdLying = Buffer.from(zstdHonest);
  zstdLying.writeUInt32LE(claimed, 6); // the zstd frame header now declares 1 MiB, as the .bin header does
  const brotliBomb = { payload: brotliCompressSync(zeros, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }), mib: 64 };
  const bombs: [string, { payload: Uint8Array; mib: number }, RegExp][] = [
    ['zstd declaring 64 MiB', copies(zstdHonest), /frame 1: corrupt zstd frame: its stream declares 67108864 bytes, its header 1048576/],
    ['zstd declaring 1 MiB', copies(zstdHonest, zstdLying), /frame 1: corrupt zstd frame: its stream decodes to more than the 1048576 bytes its header says: refused/],
    ['brotli', brotliBomb, /frame 1: corrupt brotli frame: its stream decodes to more than the 1048576 bytes its header says: refused/],
    // zeros make the cm decoder see ones it grows sure of (thousands for each byte of stream): it stops at the
    // header's length, and the hash refuses what came out
    ['cm', { payload: Buffer.alloc(1000), mib: 1 }, /frame 1: cm bytes do not match the original's hash: corrupt \.bin/],
  ];
  for (const [what, { payload, mib }, pattern] of bombs) {
    const mode = what.split(' ')[0] as BinHeader['mode'];
    const r = refused(t, craftedFile(mode, payload, header), pattern, what);
    assert.ok(r.peakMB < 400, `${what}: ${payload.length} bytes that expand to ${mib} MiB: peak ${r.peakMB} MB`);
    t.diagnostic(`${what}: ${payload.length} bytes that expand to ${mib} MiB, refused at a peak of ${r.peakMB.toFixed(0)} MB`);
  }
});
