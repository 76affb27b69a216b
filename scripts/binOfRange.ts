#!/usr/bin/env -S node --import tsx
// ranged.json -> .bin: the container with header, table, stream and checksum (docs/FORMAT.md).
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asRangedDoc } from '../src/ir.ts';
import { binOfRange } from '../src/range.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i ranged.json] [-o file.bin]\nWrites the compressed file.').parse();
  const doc = asRangedDoc(parseJson(readInput(argv.i), argv.i));
  writeOutput(argv.o, binOfRange(doc), argv.i);
});
