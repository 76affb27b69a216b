#!/usr/bin/env -S node --import tsx
// bytes -> a document the decoder turns into text: generation steered by "correction bytes".
import { readInput, runCli, stageArgs, UserError, withModel, writeOutput } from '../src/cli.ts';
import { exactGeneration, rankGeneration } from '../src/generate.ts';
import { stringifyDoc } from '../src/ir.ts';
import { loadModel } from '../src/model.ts';

runCli(async () => {
  const argv = await withModel(stageArgs('$0 -c PROMPT [-i bytes] [-o doc.json] [--coder rank|exact] [-s N]\n'
    + 'rank: each byte picks two ranks (low nibble, high nibble) -> modelOfInx.\n'
    + 'exact: the bytes are a code stream; decoding them samples N tokens -> tokensOfRange.\n'
    + 'Zero bytes: the model\'s first choice every time (greedy).'))
    .option('c', { alias: 'prompt', type: 'string', default: '', describe: 'text the generation continues' })
    .option('coder', { choices: ['rank', 'exact'] as const, default: 'rank' as const })
    .option('s', { alias: 'tokens', type: 'number', describe: 'exact mode: tokens to generate (default: 2 per input byte)' })
    .requiresArg(['c', 'coder', 's'])
    .parse();
  const data = readInput(argv.i);
  const model = await loadModel(argv.n, { dtype: argv.dtype, device: argv.device, threads: argv.l, graph: argv.graph });
  const count = argv.s ?? 2 * data.length;
  if (!Number.isInteger(count) || count < 0) throw new UserError('-s must be a non-negative integer');
  const doc = argv.coder === 'rank' ? rankGeneration(model, argv.c, data) : exactGeneration(model, argv.c, data, count);
  writeOutput(argv.o, stringifyDoc(doc), argv.i);
});
