// The long fuzz run: N damaged .bin files (rank and exact mode streams of a Scarlet slice, tiny model),
// each decoded through the model-free stages; counts what happened. Any 'WRONG' is a bug: exit 1.
// usage: node --import tsx bench/fuzz.ts [cases=10000] [seed=1]
import { damage, outcomeOfRankBin, rng, type Damage } from '../src/fuzz.ts';
import { binToRange, rangeDecode } from '../src/range.ts';
import { compress, SCARLET } from '../test/helpers.ts';

const cases = Number(process.argv[2] ?? 10000), seed = Number(process.argv[3] ?? 1);
const bin = compress(SCARLET.subarray(60_000, 62_000), ['-n', 'llmc-tiny'], ['--coder', 'rank']);
const ranks = JSON.stringify(rangeDecode(binToRange(bin)).tokenList);
const random = rng(seed);
const counts: Record<string, Record<string, number>> = {};
const t0 = Date.now();
for (let i = 0; i < cases; i++) {
  const kind = (['truncate', 'flip', 'garbage', 'splice'] as Damage[])[i % 4];
  const outcome = outcomeOfRankBin(damage(bin, kind, random), ranks);
  (counts[kind] ??= {})[outcome] = (counts[kind][outcome] ?? 0) + 1;
}
console.log(`${cases} damaged copies of a ${bin.length}-byte .bin (seed ${seed}), ${((Date.now() - t0) / 1000).toFixed(1)} s:`);
for (const [kind, c] of Object.entries(counts)) console.log(`  ${kind}: ${Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ')}`);
process.exit(Object.values(counts).some((c) => c.WRONG) ? 1 : 0);
