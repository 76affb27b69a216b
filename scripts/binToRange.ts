#!/usr/bin/env -S node --import tsx
// .bin -> ranged.json: checks and unpacks the container.
import { readInput, runCli, stageArgs, UserError, writeOutput } from '../src/cli.ts';
import { stringifyDoc } from '../src/ir.ts';
import { binToRange } from '../src/range.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i file.bin] [-o ranged.json]\nReads a compressed file.').parse();
  const bytes = readInput(argv.i);
  if (bytes.length === 0) throw new UserError('the input is empty, expected a .bin file');
  writeOutput(argv.o, stringifyDoc(binToRange(bytes)), argv.i);
});
