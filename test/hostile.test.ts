// Hostile files through the real llmc: bombs, frames cut off, swapped, repeated or from another file, and a
// header that names a model. Each is refused in one line, exit 1, with bounded memory and no output kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BinHeader, decodeBin, encodeBin, endOfOnly, isEnd, splitRecords } from '../src/container.ts';
import { craftFrame } from '../src/fuzz.ts';
import { DEFAULT_MODEL } from '../src/model.ts';
import { ok, ROOT, SCARLET, tempDir } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** llmc -d on `bytes` saved as x.bin in a fresh folder, under /usr/bin/time: status, stderr, peak RSS in MB, what is left. */
function decode(t: { after: (fn: () => void) => void }, bytes: Uint8Array, args: string[] = [], model = TINY) {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x.bin'), bytes);
  const r = spawnSync('/usr/bin/time', ['-f', 'peak %M', process.execPath, '--import', TSX, join(ROOT, 'scripts', 'llmc.ts'), '-d', '-q', ...model, ...args, 'x.bin'], { cwd: dir, encoding: 'utf8' });
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Command exited with non-zero status'));
  const peak = Number(/^peak (\d+)$/.exec(lines.pop()!)![1]) / 1024;
  return { status: r.status, stderr: lines.join('\n'), peakMB: peak, left: readdirSync(dir) };
}

const llmc = (text: Uint8Array, args: string[] = []) => ok('llmc', [...TINY, '-q', ...args], text);

/** The file with its first frame's header changed by `edit` (valid checksum), and an end record that agrees with it. */
function crafted(file: Uint8Array, edit: (h: BinHeader, extra: Record<string, unknown>) => void, words?: Uint16Array): Uint8Array {
  const { header, frame } = craftFrame(splitRecords(file)[0], edit, words);
  return Buffer.concat([frame, endOfOnly(header)]);
}

const refusedInOneLine = (r: ReturnType<typeof decode>, pattern: RegExp, what: string) => {
  assert.equal(r.status, 1, `${what}: ${r.stderr}`);
  assert.equal(r.stderr.split('\n').length, 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, pattern, what);
  assert.deepEqual(r.left, ['x.bin'], `${what}: no output kept`);
};

test('bombs: headers that claim billions of tokens, huge originals or huge layouts are refused before any allocation', (t) => {
  const text = SCARLET.subarray(0, 3000);
  const rank = ok('llmc', ['-q', '--coder', 'rank'], text); // llmc-base: the tiny model's rank frame would give way to brotli's
  const exact = llmc(text, ['--block', '1500']); // two frames: the first has the full header to craft
  const bombs: [string, Uint8Array, RegExp][] = [
    ['2^32-1 tokens, 2^53-1 bytes (rank)', crafted(rank, (h) => ((h.tokenCount = 2 ** 32 - 1), (h.originalLength = 2 ** 53 - 1))), /claims 9007199254740991 bytes, more than the 4194304 allowed \(raise --memory/],
    ['2^32-1 tokens, 2^53-1 bytes (exact)', crafted(exact, (h) => ((h.tokenCount = 2 ** 32 - 1), (h.originalLength = 2 ** 53 - 1))), /more than the 4194304 allowed/],
    ['2^32-1 tokens for 3000 bytes', crafted(rank, (h) => (h.tokenCount = 2 ** 32 - 1)), /4294967295 tokens cannot make 3000 bytes/],
    ['batch 2^31', crafted(exact, (_, x) => (x.batch = 2 ** 31)), /batch must be an integer in 1\.\.4096/],
    ['lanes 2^31', crafted(exact, (_, x) => (x.lanes = 2 ** 31)), /lanes must be an integer in 1\.\.batch/],
    ['16 MiB of one-symbol tokens, with --memory 64MiB', crafted(rank, (h) => ((h.tokenCount = 1 << 24), (h.originalLength = 1 << 24))), /more than the 131072 allowed/],
    // a row a token: hundreds of rows, each with a whole window of cache (base-v2's 4096 rows would ask 6 GiB)
    ['segments of one token in a batch of 4096, with --memory 8MiB', crafted(exact, (h, x) => ((h.segmentLength = 1), (x.batch = 4096))), /^llmc: x\.bin: frame 1: refused: this layout \(\d+ rows of 256 positions\) needs \d+ bytes of model cache, more than the 8388608 allowed \(raise --memory/],
  ];
  for (const [what, bytes, pattern] of bombs) {
    const memory = /--memory (\S+)/.exec(what);
    const r = decode(t, bytes, memory ? ['--memory', memory[1]] : []);
    refusedInOneLine(r, pattern, what);
    assert.ok(r.peakMB < 400, `${what}: peak ${r.peakMB} MB`);
  }
});

test('a model frame\'s extra field: unknown codes and flags, bytes missing or left over, and mixer settings out of bounds are refused', (t) => {
  const file = llmc(SCARLET.subarray(0, 3000), ['--block', '1500']); // two frames: the first has an extra field
  const [first] = splitRecords(file);
  const { header, table, words } = decodeBin(first);
  assert.equal(header.extra[0] & 8, 8, 'the frame has a mixer');
  const withExtra = (edit: (extra: Uint8Array) => Uint8Array) => {
    const changed = { ...header, extra: edit(Uint8Array.from(header.extra)) };
    return Buffer.concat([encodeBin(changed, table, words), endOfOnly(header)]);
  };
  const set = (at: number, value: number) => (x: Uint8Array) => ((x[at] = value), x);
  const cases: [string, Uint8Array, RegExp][] = [
    ['graph code 9', withExtra(set(7, 9)), /corrupt \.bin header: unknown graph code 9/],
    ['flag 64', withExtra((x) => ((x[0] |= 64), x)), /unknown flags 72 in the extra field/],
    ['a byte left over', withExtra((x) => Uint8Array.from([...x, 0])), /1 byte\(s\) after the extra field's last value/],
    ['cut inside the mixer', withExtra((x) => x.subarray(0, x.length - 3)), /the extra field ends inside its mixer settings/],
    ['cut before the pair rate', withExtra((x) => x.subarray(0, x.length - 1)), /the extra field ends inside its mixer pair rate/],
    // the mixer of version 5 (llmc's default): version, minMatch, learningShift, matchRate, biasRate, pairRate
    ['minMatch 200', withExtra(set(header.extra.length - 5, 200)), /mixer setting minMatch must be an integer in 1\.\.15/],
    ['biasRate 64', withExtra(set(header.extra.length - 2, 64)), /mixer setting biasRate must be an integer in 1\.\.63/],
    ['pairRate 0', withExtra(set(header.extra.length - 1, 0)), /mixer setting pairRate must be an integer in 1\.\.255/],
    ['mixer version 7', withExtra((x) => set(x.length - 6, 7)(x).subarray(0, x.length - 2)), /mixer version 7 is unknown to this build \(it reads versions 1 to 5\)/],
    ['mixer version 4 with a pair rate', withExtra(set(header.extra.length - 6, 4)), /1 byte\(s\) after the extra field's last value/],
    ['mixer version 3 with both rates', withExtra(set(header.extra.length - 6, 3)), /2 byte\(s\) after the extra field's last value/],
  ];
  for (const [what, bytes, pattern] of cases) refusedInOneLine(decode(t, bytes), pattern, what);
});

test('frames cut off, swapped, repeated or taken from another file are refused before any output is kept', (t) => {
  const text = SCARLET.subarray(30_000, 31_800);
  const file = llmc(text, ['--block', '600']);
  const records = splitRecords(file);
  assert.ok(records.length >= 4 && isEnd(records.at(-1)!), `${records.length} records`);
  const other = splitRecords(llmc(SCARLET.subarray(40_000, 41_800), ['--block', '600']));
  // The same first block and the same lengths (so the same stream id and totals): only the hash of the whole can
  // tell the spliced frame apart.
  const twin = splitRecords(llmc(Buffer.concat([text.subarray(0, 1200), Buffer.from(text.subarray(1200).toString('latin1').toUpperCase(), 'latin1')]), ['--block', '600']));
  const cases: [string, Uint8Array[], RegExp][] = [
    ['end record cut off', records.slice(0, -1), /truncated \.bin file: it ends after frame \d+, without its end record/],
    ['last frame cut off', [...records.slice(0, -2), records.at(-1)!], /the end record counts \d+ frame\(s\)/],
    ['two frames swapped', [records[1], records[0], ...records.slice(2)], /frame 1 is frame 2 of its file/],
    ['a frame repeated', [records[0], records[0], ...records.slice(1)], /frame 2 is frame 1 of its file/],
    ['a frame from another file', [records[0], other[1], ...records.slice(2)], /frame 2 belongs to another file/],
    ['a frame from a file that starts the same', [records[0], records[1], twin[2], ...records.slice(3)], /does not match the end record's hash/],
  ];
  for (const [what, parts, pattern] of cases) refusedInOneLine(decode(t, Buffer.concat(parts)), pattern, what);
});

test('the model comes from the user or models/: a header naming a path, a hub id or escape sequences only shows it, sanitised', (t) => {
  const file = llmc(SCARLET.subarray(0, 3000), ['--block', '1500']); // two frames: the first names its model
  for (const name of ['/tmp/evil-model', 'Xenova/gpt2', '\u001b]0;pwned\u0007\u001b[2J']) {
    const naming = crafted(file, (h) => ((h.modelName = name), (h.modelFingerprint = new Uint8Array(32))));
    const r = decode(t, naming);
    refusedInOneLine(r, /wrong model: the input was coded with .* \(fingerprint 000000000000…\), this is llmc-tiny/, name);
    assert.doesNotMatch(r.stderr, /\u001b|\u0007/, 'no raw escape sequences');
    assert.doesNotMatch(r.stderr, /fetch|ENOENT|no model/, 'nothing opened or fetched');
    // with no -n the decoder takes a shipped model the file names, and nothing else
    const byDefault = decode(t, naming, [], []);
    refusedInOneLine(byDefault, new RegExp(`wrong model: .*, this is ${DEFAULT_MODEL} `), `${name}, no -n`);
    assert.doesNotMatch(byDefault.stderr, /fetch|ENOENT|no model/, 'nothing opened or fetched');
  }
  // a shipped model's name with another fingerprint: that model is loaded, and refuses it
  refusedInOneLine(decode(t, crafted(file, (h) => ((h.modelName = 'llmc-tiny-v2'), (h.modelFingerprint = new Uint8Array(32)))), [], []), /wrong model: .*, this is llmc-tiny-v2 /, 'a shipped name');
  // the model's own name with another fingerprint: most likely a file from a release that fingerprinted the graph
  const old = decode(t, crafted(file, (h) => (h.modelFingerprint = new Uint8Array(32))));
  refusedInOneLine(old, /wrong model: .*; another model of that name made it: name its folder with -n, or, if llm-compression 0\.5 or earlier made it, decode it with that release \(commit 39c7df7\)/, 'same name');
  // a solo record names no model: the shipped one whose fingerprint begins as its does is named
  const solo = ok('llmc', ['-n', 'llmc-tiny-v2', '-q'], SCARLET.subarray(0, 3000));
  assert.equal(solo[5] & 1, 1, 'a solo record');
  refusedInOneLine(decode(t, solo), /wrong model: the input was (made for|coded with) a model .*this is llmc-tiny .*; decode it with -n llmc-tiny-v2$/, 'solo');
});
