#!/usr/bin/env -S node --import tsx
// bytes -> file.bin in coder mode "stored": the bytes as they are, for input the model would not help with
// (run.sh uses it for a block that is mostly not text, or whose coded frame came out larger).
import { readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { binOfBytes } from '../src/stored.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i file] [-o file.bin]\nStores bytes in a .bin frame without coding them.').parse();
  writeOutput(argv.o, binOfBytes(readInput(argv.i)), argv.i);
});
