#!/usr/bin/env -S node --import tsx
// tt.json -> cumbits.png|svg: cumulative bits (Σ −log2 p) along the text: where the model pays.
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { figureFormat, plotCumBits, withFigure } from '../src/figures.ts';
import { tokenPieces } from '../src/heatmap.ts';
import { asTokensDoc } from '../src/ir.ts';
import { loadTokenizer } from '../src/model.ts';

runCli(async () => {
  const argv = await withFigure(stageArgs(
    '$0 [-i tt.json] [-o cumbits.png|cumbits.svg] [options]\n' +
      'Line of the bits the model spends, Σ −log2 p, against the position in the text: the slope is the local cost in ' +
      'bits per byte (or per token); --rate draws that local cost too. Reference lines: --raw (8 bits/byte) and --gzip (gzip -9\'s average slope on the same text).',
  ))
    .option('x', { choices: ['bytes', 'tokens'] as const, default: 'bytes' as const, describe: 'position axis' })
    .option('raw', { type: 'boolean', default: false, describe: 'draw 8 bits/byte, the text stored as it is' })
    .option('gzip', { type: 'boolean', default: false, describe: 'draw the average slope of gzip -9 on the same text' })
    .option('rate', { type: 'number', default: 0, describe: 'also draw the local cost (bits per byte or token) over this many windows, on a right axis (0: no)' })
    .option('n', { alias: 'model', type: 'string', describe: 'model whose tokenizer decodes the tokens (default: the one named in the input)' })
    .requiresArg(['x', 'rate', 'n'])
    .parse();
  const doc = asTokensDoc(parseJson(readInput(argv.i), argv.i), { ranked: true });
  const { tokenizer } = await loadTokenizer(argv.n ?? doc.modelName);
  const pieces = tokenPieces(doc.tokenList.map((t) => t[0]), tokenizer);
  const image = plotCumBits(doc, pieces, { axis: argv.x, raw: argv.raw, gzip: argv.gzip, rateWindows: argv.rate }, { format: figureFormat(argv.o, argv.format), width: argv.width, height: argv.height, title: argv.title });
  writeOutput(argv.o, image, argv.i);
});
