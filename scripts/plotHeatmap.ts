#!/usr/bin/env -S node --import tsx
// tt.json -> heatmap.html: the text three times, coloured by rank, by 1 − √p and by bits; optionally a screenshot.
import { basename } from 'node:path';
import { parseJson, readInput, runCli, stageArgs, UserError, writeOutput } from '../src/cli.ts';
import { heatmapHtml, runChromium, tokenPieces } from '../src/heatmap.ts';
import { asTokensDoc } from '../src/ir.ts';
import { loadTokenizer } from '../src/model.ts';

runCli(async () => {
  const argv = await stageArgs(
    '$0 [-i tt.json] [-o heatmap.html] [--png heatmap.png]\n' +
      'Writes one self-contained HTML page (no external requests) showing the text three times, each token coloured by ' +
      'the rank the model gave it (0..16, misses apart), by 1 − √p, and by the bits it cost (−log2 p); hover a token for details.',
  )
    .option('n', { alias: 'model', type: 'string', describe: 'model whose tokenizer decodes the tokens (default: the one named in the input)' })
    .option('title', { type: 'string', describe: 'page title (default: from the input file and model)' })
    .option('png', { type: 'string', describe: 'also take a screenshot of the page with headless Chromium ($CHROMIUM or chromium on $PATH)' })
    .option('width', { type: 'number', default: 1200, describe: 'screenshot width in pixels' })
    .option('height', { type: 'number', default: 900, describe: 'screenshot height in pixels' })
    .requiresArg(['n', 'title', 'png', 'width', 'height'])
    .parse();
  const doc = asTokensDoc(parseJson(readInput(argv.i), argv.i), { ranked: true });
  if (argv.png && (argv.o === undefined || argv.o === '-')) throw new UserError('--png needs the page in a file: give -o');
  const { tokenizer } = await loadTokenizer(argv.n ?? doc.modelName);
  const pieces = tokenPieces(doc.tokenList.map((t) => t[0]), tokenizer);
  const name = argv.i && argv.i !== '-' ? basename(argv.i).replace(/(\.ttout|\.tt)?\.json$/, '') : 'stdin';
  writeOutput(argv.o, heatmapHtml(doc, pieces, { title: argv.title ?? `${name}: what ${doc.modelName} sees` }), argv.i);
  if (argv.png) runChromium(argv.o!, { png: argv.png, width: argv.width, height: argv.height });
});
