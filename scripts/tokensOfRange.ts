#!/usr/bin/env -S node --import tsx
// ranged.json -> toks.json (exact mode): the model and the rANS decoder together, token by token.
import { parseJson, progressReporter, readInput, runCli, stageArgs, withModel, writeOutput } from '../src/cli.ts';
import { decodeExact } from '../src/codec.ts';
import { asRangedDoc, stringifyDoc } from '../src/ir.ts';
import { loadModelFor } from '../src/model.ts';

runCli(async () => {
  const argv = await withModel(stageArgs('$0 [-i ranged.json] [-o toks.json] [options]\nDecodes an exact-mode stream with the model.')).parse();
  const doc = asRangedDoc(parseJson(readInput(argv.i), argv.i));
  const model = await loadModelFor(doc, argv.n, { dtype: argv.dtype, device: argv.device, threads: argv.l, graph: argv.graph });
  const tokens = await decodeExact(doc, model, progressReporter('tokensOfRange', argv.quiet));
  writeOutput(argv.o, stringifyDoc(tokens), argv.i);
});
