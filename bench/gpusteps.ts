// The CUDA engine's decoder step as llmc runs it (extend with the predictions kept on the GPU, then the exact coder
// there: one answer a row comes back), in W worker threads at once, each with its own model and cache, as `llmc -j W`
// does. No mixer and no range coder: this is what the GPU and its driver give, the ceiling of the decoder's speed.
// Each worker fills a quarter window, steps to the window's end, and starts again (llmc's restarts keep a quarter).
// The native engine (--engine native) steps the same on the CPU, its coder the twin of the GPU's. --profile times every
// kernel on the GPU (LLMC_CUDA_PROFILE: an event before and after each) and says where a step's time goes, and how the
// workers' kernels lie over each other: how much of the time the GPU has a kernel running, and how many at once.
// usage: node --import tsx bench/gpusteps.ts [--model llmc-base-v2] [--engine cuda|native] [--threads 1] [--workers 1,4,8] [--rows 64,128,256] [--seconds 5] [--gpus 1] [--profile]
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT } from '../src/codec.ts';
import { DEFAULT_MODEL, loadModel } from '../src/model.ts';
import { ASK, type Engine, type NativeCache } from '../src/native.ts';

interface Job { model: string; engine: Engine; rows: number; seconds: number; gpu: number; threads: number }

/** Each kernel's launches and GPU milliseconds (LLMC_CUDA_PROFILE). */
type Kernels = Record<string, [number, number]>;
interface Done { steps: number; seconds: number; kernels: Kernels | null; spans: Float64Array | null }

/** One worker: steps its cache for `seconds` after a warm-up pass; the steps it made, their seconds and kernels. */
async function stepFor({ model: name, engine, rows, seconds, gpu, threads }: Job): Promise<Done> {
  const model = await loadModel(name, { engine, gpu, threads });
  const window = model.defaultWindow, kept = window / 4;
  const cache = model.newCache(rows, window, undefined, false) as NativeCache;
  const ids = (n: number, salt: number) => BigInt64Array.from({ length: rows * n }, (_, i) => BigInt(((i + salt) * 7919) % model.vocabSize));
  const asks = new Int32Array(rows * ASK);
  for (let r = 0; r < rows; r++) asks[r * ASK] = (r * 2654435761) % 2 ** DEFAULT_LAYOUT.precision, asks[r * ASK + 1] = -1, asks[r * ASK + 12] = -1;
  let steps = 0;
  const pass = async (until: number) => {
    await cache.extend(ids(kept, steps), kept, 0, { predict: 1, keep: true });
    for (let position = kept; position < window && performance.now() < until; position++, steps++) {
      await cache.extend(ids(1, steps), 1, position, { keep: true });
      cache.code(asks, rows, 1, 0, true, DEFAULT_LAYOUT.precision);
    }
  };
  await pass(Infinity);
  parentPort!.postMessage('ready');
  await new Promise((go) => parentPort!.once('message', go));
  steps = 0;
  const start = performance.now(), until = start + seconds * 1000;
  const before = cache.profile();
  cache.spans();
  while (performance.now() < until) await pass(until);
  const after = cache.profile();
  const spans = cache.spans();
  cache.close?.();
  // the warm-up's kernels are left out
  const kernels = after && Object.fromEntries(Object.entries(after).map(([k, [n, ms]]): [string, [number, number]] => [k, [n - before![k][0], ms - before![k][1]]]));
  return { steps, seconds: (performance.now() - start) / 1000, kernels, spans };
}

if (!isMainThread) parentPort!.postMessage(await stepFor(workerData.data));
else {
  const argv = await yargs(hideBin(process.argv))
    .option('model', { type: 'string', default: DEFAULT_MODEL })
    .option('workers', { type: 'string', default: '1,4,8' })
    .option('rows', { type: 'string', default: '64,128,256' })
    .option('seconds', { type: 'number', default: 5 })
    .option('gpus', { type: 'number', default: 1 })
    .option('engine', { choices: ['cuda', 'native'] as const, default: 'cuda' as const })
    .option('threads', { type: 'number', default: 1, describe: 'the native engine: model threads a worker' })
    .option('profile', { type: 'boolean', default: false, describe: 'time each kernel on the GPU' })
    .strict()
    .parse();
  if (argv.profile) process.env.LLMC_CUDA_PROFILE = '1';
  const profiles: string[] = [];
  console.log(`${argv.model}, ${argv.engine} engine: decoder steps (extend, its predictions kept, then code), W workers at once for ${argv.seconds} s each\n`);
  console.log('| workers | rows a step | ms a step (each worker) | steps/s (all) | tokens/s (all) |\n|---:|---:|---:|---:|---:|');
  for (const workers of argv.workers.split(',').map(Number)) {
    for (const rows of argv.rows.split(',').map(Number)) {
      const threads = Array.from({ length: workers }, (_, i) => new Worker(new URL('../src/thread.mjs', import.meta.url), { workerData: { module: import.meta.url, data: { model: argv.model, engine: argv.engine, rows, seconds: argv.seconds, gpu: i % argv.gpus, threads: argv.threads } } }));
      const results = threads.map((t) => new Promise<Done>((done, fail) => {
        t.on('error', fail);
        t.on('message', (m) => (m === 'ready' ? undefined : done(m)));
      }));
      await Promise.all(threads.map((t) => new Promise((ready) => t.once('message', ready))));
      threads.forEach((t) => t.postMessage('go'));
      const done = await Promise.all(results);
      await Promise.all(threads.map((t) => t.terminate()));
      const steps = done.reduce((s, d) => s + d.steps, 0), seconds = Math.max(...done.map((d) => d.seconds));
      const msEach = (1000 * done.reduce((s, d) => s + d.seconds, 0)) / steps;
      console.log(`| ${workers} | ${rows} | ${msEach.toFixed(3)} | ${(steps / seconds).toFixed(0)} | ${((steps * rows) / seconds).toFixed(0)} |`);
      if (done[0].kernels) profiles.push(profileOf(workers, rows, msEach, steps, done.map((d) => d.kernels!)), overlayOf(done.map((d) => d.spans!)));
    }
  }
  console.log(profiles.join(''));
}

/** The kernels' GPU time a step, summed over the workers' steps, against the step's wall time. */
function profileOf(workers: number, rows: number, msEach: number, steps: number, kernels: Kernels[]): string {
  const total = (k: string, i: number) => kernels.reduce((s, d) => s + d[k][i], 0);
  const names = Object.keys(kernels[0]).sort((a, b) => total(b, 1) - total(a, 1));
  const gpu = names.reduce((s, k) => s + total(k, 1), 0) / steps;
  const lines = names.map((k) => `| ${k} | ${(total(k, 0) / steps).toFixed(1)} | ${((1000 * total(k, 1)) / steps).toFixed(1)} | ${((100 * total(k, 1)) / steps / msEach).toFixed(1)}% |`);
  return `\n${workers} workers, ${rows} rows: a step ${(1000 * msEach).toFixed(0)} µs of wall time, ${(1000 * gpu).toFixed(0)} µs in kernels\n\n| kernel | launches a step | µs a step | of the wall time |\n|---|---:|---:|---:|\n${lines.join('\n')}\n`;
}

/** The length covered by spans [start, end), overlaps counted once. */
function covered(spans: [number, number][]): number {
  let total = 0, reach = -Infinity;
  for (const [a, b] of [...spans].sort((x, y) => x[0] - y[0])) {
    if (b > reach) total += b - Math.max(a, reach), reach = b;
  }
  return total;
}

/** How the workers' kernels lie over each other while all of them were stepping: the share of that time with a kernel
 * running on the GPU, the kernels running at once on average (then, and while any runs), and a worker's own share. */
function overlayOf(spans: Float64Array[]): string {
  const from = Math.max(...spans.map((s) => s[0])), to = Math.min(...spans.map((s) => s[s.length - 2])), length = to - from;
  const clipped = spans.map((s) => {
    const kept: [number, number][] = [];
    for (let i = 0; i < s.length; i += 3) if (Math.min(s[i + 1], to) > Math.max(s[i], from)) kept.push([Math.max(s[i], from), Math.min(s[i + 1], to)]);
    return kept;
  });
  const busy = covered(clipped.flat()), running = clipped.flat().reduce((sum, [a, b]) => sum + b - a, 0);
  const own = clipped.reduce((sum, kept) => sum + covered(kept), 0) / clipped.length;
  const pct = (x: number) => `${((100 * x) / length).toFixed(1)}%`;
  return `\nAll ${spans.length} workers stepping, ${length.toFixed(0)} ms: a kernel running ${pct(busy)} of the time, ${(running / length).toFixed(2)} kernels at once on average (${(running / busy).toFixed(2)} while any runs); a worker's own kernels ${pct(own)} of it\n`;
}
