#!/usr/bin/env -S node --import tsx
// llmc: compress and decompress files with the model, with gzip's flags. Every option is checked before any work.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { count, fail, MOST_THREADS, runCli, UserError } from '../src/cli.ts';
import { ENGINES, nativeEngine } from '../src/native.ts';
import { DEFAULT_MEMORY, limitsFor, MEMORY_PER_BYTE } from '../src/container.ts';
import { LAYOUT_BOUNDS } from '../src/extra.ts';
import { DEFAULT_CODING } from '../src/frames.ts';
import { DEFAULT_MODEL, resolveModel } from '../src/model.ts';
import { llmc } from '../src/llmc.ts';
import { MIXERS } from '../src/mixer.ts';

/** A size in bytes, with an optional KiB, MiB or GiB (xz's and zstd's --memory). */
const size = (value: unknown) => {
  const m = /^(\d+)\s*(k|m|g)?(i?b)?$/i.exec(String(value));
  if (!m) throw new UserError(`--memory must be a size such as 512MiB or 2GiB, got ${String(value)}`);
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] ?? ' ').toLowerCase());
};

runCli(async () => {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('llmc')
    .usage('$0 [options] [FILE...]\nCompresses each FILE into FILE.bin (keeping FILE), or with -d gives FILE back from FILE.bin (keeping FILE.bin).\nWith no FILE, or -, reads standard input and writes standard output.')
    .option('d', { alias: ['decompress', 'uncompress'], type: 'boolean', describe: 'decompress' })
    .option('c', { alias: 'stdout', type: 'boolean', describe: 'write to standard output, keep the input' })
    .option('o', { alias: 'output', type: 'string', describe: 'write to this file (one input only)' })
    .option('k', { alias: 'keep', type: 'boolean', describe: 'keep the input (the default)' })
    .option('rm', { type: 'boolean', describe: 'remove the input once its output is complete' })
    .option('f', { alias: 'force', type: 'boolean', describe: 'overwrite outputs; write compressed data to a terminal' })
    .option('t', { alias: 'test', type: 'boolean', describe: 'decompress and check, write nothing' })
    .option('l', { alias: 'list', type: 'boolean', describe: 'list each .bin: sizes, ratio, frames, coders, model (no model needed)' })
    .option('v', { alias: 'verbose', type: 'boolean', describe: 'a summary line per file: sizes, ratio, bits/byte, time, frames and their coders' })
    .option('q', { alias: 'quiet', type: 'boolean', describe: 'no progress bar' })
    .option('T', { alias: 'threads', type: 'number', default: 0, coerce: count('-T', 0, MOST_THREADS), describe: 'CPU threads for the model (0: all cores, as memory allows; the integer graph runs one session a thread, ~0.15 GB each once loaded)' })
    .option('n', { alias: 'model', type: 'string', describe: `model folder or name under models/ (default: ${DEFAULT_MODEL}; a .bin decodes with the shipped model it was made with)` })
    .option('coder', { choices: ['exact', 'rank'] as const, default: DEFAULT_CODING.coder, describe: 'exact: the model\'s whole distribution; rank: the reference\'s ranks' })
    .option('w', { alias: 'window', type: 'number', coerce: count('-w', 2, LAYOUT_BOUNDS.contextWindow), describe: 'context window in tokens (default: the model\'s)' })
    .option('mixer', { choices: Object.keys(MIXERS) as (keyof typeof MIXERS)[], default: 'pairs' as const, describe: 'exact coder: pairs mixes a match model over the whole frame, a bias on every token and one on each token after each token, learned from it, into the model (mixer version 5, docs/MIXER.md); bias: without the pairs (version 4, as before 0.19); match: the match model alone (version 3, as before 0.16); none: the model alone' })
    .option('segment', { type: 'number', default: DEFAULT_CODING.segment, coerce: count('--segment', 0, LAYOUT_BOUNDS.segmentLength), describe: 'tokens per independently coded segment (0: one)' })
    .option('batch', { type: 'number', default: DEFAULT_CODING.batch, coerce: count('--batch', 1, LAYOUT_BOUNDS.batch), describe: 'segments stepped together' })
    .option('block', { type: 'number', default: DEFAULT_CODING.block, coerce: count('--block', 1), describe: 'largest block of input per frame, in bytes (memory is bounded by it)' })
    .option('memory', { type: 'string', default: '2GiB', coerce: size, describe: `most memory a frame may need to decode (${MEMORY_PER_BYTE} bytes per byte of its original); a frame that claims more is refused` })
    .option('dtype', { choices: ['fp32', 'q8'] as const, describe: 'float graphs\' weights (fp32 picks a float graph)' })
    .option('device', { choices: ['cpu', 'webgpu', 'cuda'] as const, default: 'cpu' as const, describe: 'onnxruntime execution provider' })
    .option('graph', { choices: ['integer', 'stepper', 'coder', 'transformers'] as const, describe: 'which graph of the model (default: integer on the CPU, coder on a GPU)' })
    .option('j', { alias: 'jobs', type: 'number', default: 0, coerce: count('-j', 0), describe: 'frames coded at once, each in a worker thread with its own model (0: as many as the input has frames, up to one a core, or 16 a GPU on the CUDA engine, as cores, memory and the free memory of each GPU allow; there a worker decodes frames of about 600 rows together, the classical coders and cm of a compressed block run on workers of their own, one a core, and files coded into their own go at once); the same bytes however many' })
    .option('gpus', { type: 'number', default: 0, coerce: count('--gpus', 0), describe: 'GPUs the CUDA engine deals frames to, worker i to GPU i mod this (0: every GPU the driver sees)' })
    .option('engine', { choices: ENGINES, describe: 'what computes the integer model: native (the CPU, in C), cuda (an NVIDIA GPU, through its driver and NVRTC) or onnx (onnxruntime); the same bits every way (default: LLMC_ENGINE, else native where a C compiler builds it)' })
    .requiresArg(['o', 'T', 'n', 'coder', 'w', 'mixer', 'segment', 'batch', 'block', 'memory', 'dtype', 'device', 'graph', 'j', 'gpus', 'engine'])
    .conflicts('l', ['d', 't'])
    .conflicts('c', ['o', 'rm'])
    .strictOptions()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => fail(new UserError(`${(msg ?? err.message).replace(/\s*\n\s*/g, ' ')} (see llmc --help)`)))
    .parse();

  const action = argv.l ? 'list' : argv.t ? 'test' : argv.d ? 'decompress' : 'compress';
  const limits = limitsFor(argv.memory ?? DEFAULT_MEMORY);
  if (action === 'compress' && argv.block > limits.maxOriginal) throw new UserError(`--block ${argv.block} needs more than --memory allows to decode (at most ${limits.maxOriginal} bytes a frame): raise --memory`);
  // LLMC_ENGINE is checked, and the native engine built, before any work: a failure is one line, not a frame's
  if (action !== 'list') nativeEngine(argv.engine);
  // and the model is found before any input is read (once, not once a file)
  if (action !== 'list') resolveModel(argv.n);
  process.exitCode = await llmc({
    action,
    files: argv._.map(String),
    stdout: argv.c ?? false,
    output: argv.o,
    force: argv.f ?? false,
    remove: argv.rm ?? false,
    verbose: argv.v ?? false,
    quiet: argv.q ?? false,
    model: argv.n,
    modelOptions: { threads: argv.T, dtype: argv.dtype, device: argv.device, graph: argv.graph, engine: argv.engine },
    coding: { coder: argv.coder, window: argv.w, segment: argv.segment, batch: argv.batch, block: argv.block, mixer: MIXERS[argv.mixer] },
    limits,
    jobs: argv.j,
    gpus: argv.gpus,
  });
});
