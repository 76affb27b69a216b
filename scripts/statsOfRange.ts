#!/usr/bin/env -S node --import tsx
// ranged.json -> stats: table and stream sizes, the .bin size and the bits per byte they come to.
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asRangedDoc } from '../src/ir.ts';
import { formatRangeStats, statsOfRange } from '../src/stats.ts';

runCli(async () => {
  const argv = await stageArgs(
    '$0 [-i ranged.json] [-o stats.txt] [--json]\n' +
      'Sizes in the output of rangeEncode: the symbol table (entries, bytes as stored), the rANS stream (16-bit words, bytes), ' +
      'the .bin they make, and bits/token and bits/byte; rank mode also counts hits and misses from the table.',
  )
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object instead of text' })
    .parse();
  const stats = statsOfRange(asRangedDoc(parseJson(readInput(argv.i), argv.i)));
  writeOutput(argv.o, argv.json ? JSON.stringify(stats, null, 1) + '\n' : formatRangeStats(stats), argv.i);
});
