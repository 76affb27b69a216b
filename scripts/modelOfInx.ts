#!/usr/bin/env -S node --import tsx
// tt.json -> toks.json (rank mode): the model puts back the token found at each rank.
import { parseJson, progressReporter, readInput, runCli, stageArgs, withModel, writeOutput } from '../src/cli.ts';
import { unrankTokens } from '../src/codec.ts';
import { asTokensDoc, stringifyDoc } from '../src/ir.ts';
import type { Layout } from '../src/ir.ts';
import { loadModelFor } from '../src/model.ts';

runCli(async () => {
  const argv = await withModel(stageArgs('$0 [-i tt.json] [-o toks.json] [options]\nTurns ranks back into tokens.')).parse();
  const doc = asTokensDoc(parseJson(readInput(argv.i), argv.i), { ranked: true }) as ReturnType<typeof asTokensDoc> & Layout;
  const model = await loadModelFor(doc, argv.n, { dtype: argv.dtype, device: argv.device, threads: argv.l, graph: argv.graph });
  const tokens = await unrankTokens(doc, model, progressReporter('modelOfInx', argv.quiet));
  writeOutput(argv.o, stringifyDoc(tokens), argv.i);
});
