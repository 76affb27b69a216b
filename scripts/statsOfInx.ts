#!/usr/bin/env -S node --import tsx
// tt.json -> stats: hits, perfect hits, misses, and the model's cross-entropy (bits/token, bits/byte).
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asTokensDoc } from '../src/ir.ts';
import { formatInxStats, statsOfInx } from '../src/stats.ts';

runCli(async () => {
  const argv = await stageArgs(
    '$0 [-i tt.json] [-o stats.txt] [--json]\n' +
      'Counts what the model got right in the output of modelToInx: hits (rank < topN), perfect hits (rank 0) and misses, ' +
      'as counts and percents, and its cross-entropy Σ −log2 p in bits, bits/token and bits/byte ' +
      '(exact mode: also what the integer intervals cost).',
  )
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object instead of text' })
    .parse();
  const stats = statsOfInx(asTokensDoc(parseJson(readInput(argv.i), argv.i), { ranked: true }));
  writeOutput(argv.o, argv.json ? JSON.stringify(stats, null, 1) + '\n' : formatInxStats(stats), argv.i);
});
