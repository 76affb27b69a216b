#!/usr/bin/env -S node --import tsx
// file.bin -> DIR/000001.bin ...: the frames of a .bin that run.sh wrote in blocks, one file each, so that each
// is decoded on its own and memory stays bounded by the block size. Each frame is checked in full first.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readInput, refusing, runCli, stageArgs, UserError } from '../src/cli.ts';
import { decodeBin, splitFrames } from '../src/container.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i file.bin] -o DIR\nWrites each frame of a .bin as DIR/NNNNNN.bin and prints their count.').parse();
  const dir = argv.o;
  if (!dir) throw new UserError('-o DIR is required');
  const frames = splitFrames(readInput(argv.i));
  frames.forEach((frame, i) => refusing(() => decodeBin(frame), `frame ${i + 1}: `));
  mkdirSync(dir, { recursive: true });
  frames.forEach((frame, i) => {
    const path = join(dir, `${String(i + 1).padStart(6, '0')}.bin`);
    writeFileSync(`${path}.part`, frame);
    renameSync(`${path}.part`, path);
  });
  process.stdout.write(`${frames.length}\n`);
});
