#!/usr/bin/env -S node --import tsx
// ranged.json -> tt.json (rank mode): ranks and misses back from the rANS stream, without the model.
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asRangedDoc, stringifyDoc } from '../src/ir.ts';
import { rangeDecode } from '../src/range.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i ranged.json] [-o tt.json]\nDecodes a rank-mode stream (exact mode: use tokensOfRange).').parse();
  const doc = asRangedDoc(parseJson(readInput(argv.i), argv.i));
  writeOutput(argv.o, stringifyDoc(rangeDecode(doc)), argv.i);
});
