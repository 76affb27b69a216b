// Damaged and crafted .bin files: each is refused in one line, or (when the change missed everything the format
// relies on) reads back to the original ranks. Never different text. bench/fuzz.ts runs many more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitsFor } from '../src/container.ts';
import { type Case, CRAFTS, corrupt, DAMAGES, outcomeOfRankFile, ranksOf, rng } from '../src/fuzz.ts';
import { ok, SCARLET } from './helpers.ts';

const LIMITS = limitsFor(64 << 20);

test('300 damaged and 500 crafted multi-frame .bin files are all refused in one line', () => {
  // llmc-base: its rank frames beat brotli's (the tiny model's would give way to brotli frames)
  const llmc = (text: Uint8Array) => ok('llmc', ['-q', '--coder', 'rank', '--block', '2500'], text);
  const file = llmc(SCARLET.subarray(60_000, 67_500));
  const foreign = llmc(SCARLET.subarray(90_000, 97_500));
  assert.ok(ranksOf(file, LIMITS).startsWith('[[[') && (ranksOf(file, LIMITS).match(/\]\],\[\[/g) ?? []).length >= 2, 'three rank frames');
  const ranks = ranksOf(file, LIMITS);
  const random = rng(20261201);
  const counts: Record<string, Record<string, number>> = {};
  const kinds: Case[] = [...DAMAGES, ...CRAFTS];
  for (let i = 0; i < 800; i++) {
    const kind = i < 300 ? DAMAGES[i % DAMAGES.length] : CRAFTS[i % CRAFTS.length];
    const damaged = corrupt(file, kind, random, foreign);
    const outcome = outcomeOfRankFile(damaged, ranks, LIMITS);
    (counts[kind] ??= {})[outcome] = (counts[kind][outcome] ?? 0) + 1;
    assert.notEqual(outcome, 'WRONG', `case ${i} (${kind})`);
  }
  assert.deepEqual(Object.keys(counts).sort(), [...kinds].sort());
  // Checksums cover every byte, and the frames' places are checked: no damage, no reordering gets through.
  for (const kind of kinds) if (kind !== 'extreme-field') assert.deepEqual(Object.keys(counts[kind]), ['refused'], `${kind}: ${JSON.stringify(counts[kind])}`);
});

test('300 damaged and 100 crafted solo records (a whole file in one record) are all refused in one line', () => {
  const file = ok('llmc', ['-q', '-n', 'llmc-tiny'], SCARLET.subarray(60_000, 60_400));
  assert.equal(file[5] & 1, 1, 'a solo record');
  const random = rng(20261202);
  for (let i = 0; i < 400; i++) {
    const kind = i < 300 ? DAMAGES[i % DAMAGES.length] : 'extreme-field';
    const outcome = outcomeOfRankFile(corrupt(file, kind, random, file), '[]', LIMITS);
    if (kind !== 'extreme-field') assert.equal(outcome, 'refused', `case ${i} (${kind})`);
    else assert.notEqual(outcome, 'WRONG', `case ${i} (${kind})`);
  }
});
