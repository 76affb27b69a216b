// A few hundred damaged .bin files: each is refused in one line, or (when the damage missed everything the
// format relies on) decodes to the original ranks. Never different text. bench/fuzz.ts runs many more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { damage, outcomeOfRankBin, rng, type Damage } from '../src/fuzz.ts';
import { binToRange, rangeDecode } from '../src/range.ts';
import { compress, SCARLET } from './helpers.ts';

test('300 truncated, flipped, garbage and spliced .bin files are all refused', () => {
  const bin = compress(SCARLET.subarray(60_000, 61_500), ['-n', 'llmc-tiny'], ['--coder', 'rank']);
  const ranks = JSON.stringify(rangeDecode(binToRange(bin)).tokenList);
  const random = rng(20261123);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const kind = (['truncate', 'flip', 'garbage', 'splice'] as Damage[])[i % 4];
    const outcome = outcomeOfRankBin(damage(bin, kind, random), ranks);
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    assert.notEqual(outcome, 'WRONG', `case ${i} (${kind})`);
  }
  assert.equal(counts.refused, 300, JSON.stringify(counts)); // the CRC covers every byte, so no damage gets through
});
