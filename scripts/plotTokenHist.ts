#!/usr/bin/env -S node --import tsx
// tt.json -> hist.png|svg: share of tokens at each rank the model gave them, misses as their own bar.
import { basename } from 'node:path';
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { figureFormat, plotTokenHist, withFigure } from '../src/figures.ts';
import { asTokensDoc } from '../src/ir.ts';

runCli(async () => {
  const argv = await withFigure(stageArgs(
    '$0 [-i tt.json] [-o hist.png|hist.svg] [--overlay other.tt.json] [options]\n' +
      'Bar chart of the share of tokens at each rank (0 = the model\'s first choice); "miss" is the bar of tokens outside ' +
      'the top topN (rank mode -1, exact mode rank ≥ topN). With --overlay, a second run (another model on the same text) ' +
      'is drawn beside it, with a legend from the model names.',
  ))
    .option('min', { type: 'number', default: -1, describe: 'first bar (-1: the miss bar)' })
    .option('max', { type: 'number', default: 40, describe: 'last rank shown' })
    .option('log', { type: 'boolean', default: false, describe: 'logarithmic y axis' })
    .option('overlay', { type: 'string', describe: 'a second tt.json to draw beside the first' })
    .requiresArg(['min', 'max', 'overlay'])
    .parse();
  const docs = [argv.i, ...(argv.overlay ? [argv.overlay] : [])].map((path) => asTokensDoc(parseJson(readInput(path), path), { ranked: true }));
  const names = [argv.i, argv.overlay].map((p) => (p && p !== '-' ? basename(p) : 'stdin'));
  const image = plotTokenHist(docs, { min: argv.min, max: argv.max, log: argv.log, names }, { format: figureFormat(argv.o, argv.format), width: argv.width, height: argv.height, title: argv.title });
  writeOutput(argv.o, image, argv.i);
});
