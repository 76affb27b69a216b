#!/usr/bin/env -S node --import tsx
// bench.json -> bench.png|svg: bits per byte of each compressor, grouped by input file.
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asBench, figureFormat, plotBench, withFigure } from '../src/figures.ts';

runCli(async () => {
  const argv = await withFigure(stageArgs(
    '$0 [-i bench.json] [-o bench.png|bench.svg] [options]\n' +
      'Bar chart of bits per byte per compressor. The input is a JSON array, one entry per compressor and file:\n' +
      '[{"name": "gzip -9", "file": "a.txt", "bytes": 101780, "bitsPerByte": 3.09},\n' +
      ' {"name": "llmc exact", "file": "a.txt", "bytes": 60000, "bitsPerByte": 1.82}]\n' +
      'name: the compressor (one bar each, in order of first appearance); file: the input (one colour each, with a legend ' +
      'when there are several); bytes: size of the compressed output; bitsPerByte: 8 × bytes / original size.',
  )).parse();
  const entries = asBench(parseJson(readInput(argv.i), argv.i));
  writeOutput(argv.o, plotBench(entries, { format: figureFormat(argv.o, argv.format), width: argv.width, height: argv.height, title: argv.title }), argv.i);
});
