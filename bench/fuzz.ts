// The long fuzz run: N damaged and crafted copies of a multi-frame rank-mode .bin (a Scarlet slice, llmc-base),
// each read through everything that needs no model, under the memory limits of --memory 64MiB; counts what
// happened and the process's peak memory. Any 'WRONG' is a bug: exit 1.
// usage: node --max-old-space-size=256 --import tsx bench/fuzz.ts [cases=10000] [seed=1]
import { limitsFor } from '../src/container.ts';
import { type Case, CRAFTS, corrupt, DAMAGES, outcomeOfRankFile, ranksOf, rng } from '../src/fuzz.ts';
import { ok, SCARLET } from '../test/helpers.ts';

const cases = Number(process.argv[2] ?? 10000), seed = Number(process.argv[3] ?? 1);
const limits = limitsFor(64 << 20);
const llmc = (text: Uint8Array) => ok('llmc', ['-q', '--coder', 'rank', '--block', '2500'], text);
const file = llmc(SCARLET.subarray(60_000, 70_000));
const foreign = llmc(SCARLET.subarray(90_000, 100_000));
const ranks = ranksOf(file, limits);
const random = rng(seed);
const kinds: Case[] = [...DAMAGES, ...CRAFTS];
const counts: Record<string, Record<string, number>> = {};
const t0 = Date.now();
for (let i = 0; i < cases; i++) {
  const kind = kinds[i % kinds.length];
  const outcome = outcomeOfRankFile(corrupt(file, kind, random, foreign), ranks, limits);
  (counts[kind] ??= {})[outcome] = (counts[kind][outcome] ?? 0) + 1;
}
console.log(`${cases} damaged or crafted copies of a ${file.length}-byte .bin with ${ranks.match(/\]\],\[\[/g)!.length + 1} rank-mode frames (seed ${seed}), ${((Date.now() - t0) / 1000).toFixed(1)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB:`);
for (const [kind, c] of Object.entries(counts)) console.log(`  ${kind}: ${Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ')}`);
process.exit(Object.values(counts).some((c) => c.WRONG) ? 1 : 0);
