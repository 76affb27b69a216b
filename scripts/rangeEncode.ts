#!/usr/bin/env -S node --import tsx
// tt.json -> ranged.json: entropy-codes the ranked tokens with rANS (no model needed).
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asTokensDoc, stringifyDoc } from '../src/ir.ts';
import { rangeEncode } from '../src/range.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i tt.json] [-o ranged.json]\nCodes the output of modelToInx into a rANS stream.').parse();
  const doc = asTokensDoc(parseJson(readInput(argv.i), argv.i), { ranked: true });
  writeOutput(argv.o, stringifyDoc(rangeEncode(doc)), argv.i);
});
