#!/usr/bin/env -S node --import tsx
// stored file.bin -> bytes: gives back what binOfBytes stored, after checking length, hash and checksum.
import { readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { bytesOfBin } from '../src/stored.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i file.bin] [-o file]\nThe bytes of a stored .bin frame.').parse();
  writeOutput(argv.o, await bytesOfBin(readInput(argv.i)), argv.i);
});
