// The integer model's engines side by side, through the pipeline's own cache interface: onnxruntime running
// integer.onnx (rows split over sessions as src/rows.ts does), the native engine (native/integer.c) and, on a
// machine with an NVIDIA GPU, the CUDA engine (native/cuda.c). For each number of rows: a decoder's step (one new
// position a row after `slots` filled ones and more: the mean of 20 steps after 3 warm-ups, at positions
// slots..slots+22) and an encoder's call (`fed` positions a row from an empty cache, a prediction after each).
// Synthetic tokens: this measures speed; every step's integers are also compared with the first engine's, and
// must agree.
// usage: node --import tsx bench/engines.ts [--model llmc-base-v2] [--engines onnx,native] [--rows 1,4,16,33] [--slots 192] [--fed 256] [--threads 2]
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type Cache, DEFAULT_MODEL, loadModel, type Next } from '../src/model.ts';
import { cudaModel, type Engine, ENGINES, nativeEngine } from '../src/native.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: DEFAULT_MODEL })
  .option('engines', { type: 'string', default: 'onnx,native' })
  .option('rows', { type: 'string', default: '1,4,16,33' })
  .option('slots', { type: 'number', default: 192 })
  .option('fed', { type: 'number', default: 256 })
  .option('threads', { type: 'number', default: 2 })
  .strict()
  .parse();

const engines = argv.engines.split(',') as Engine[];
if (engines.some((e) => !ENGINES.includes(e))) throw new Error(`--engines: each of ${ENGINES.join(', ')}`);
const models = Object.fromEntries(await Promise.all(engines.map(async (engine) => {
  const start = performance.now();
  const model = await loadModel(argv.model, { threads: argv.threads, engine });
  model.newCache(1, 8).close?.(); // the onnx engine opens its session here, the native ones have made their models
  return [engine, { model, loadSeconds: (performance.now() - start) / 1000 }];
})));
const { vocabSize: V, defaultWindow: window, dir } = models[engines[0]].model;
const ids = (rows: number, n: number, salt: number) => BigInt64Array.from({ length: rows * n }, (_, i) => BigInt(((i + salt) * 7919) % V));

/** Mean ms of `count` calls after 3 warm-ups (call i gets i), and the last call's prediction. */
async function time(count: number, call: (i: number) => Promise<Next>): Promise<{ ms: number; next: Next }> {
  for (let i = 0; i < 3; i++) await call(i);
  let next!: Next;
  const start = performance.now();
  for (let i = 3; i < 3 + count; i++) next = await call(i);
  return { ms: (performance.now() - start) / count, next: { weights: next.weights!.slice(), logits: next.logits!.slice() } };
}

const addon = nativeEngine(engines.includes('onnx') && engines.length === 1 ? 'onnx' : 'native');
const what = [addon && `native kernel ${addon.kernel()}`, engines.includes('cuda') && addon && `GPU ${addon.cudaName(cudaModel(addon, dir))}`].filter(Boolean).join('; ');
console.log(`${argv.model}, ${argv.threads} threads; ${what}; load: ${engines.map((e) => `${e} ${models[e].loadSeconds.toFixed(2)} s`).join(', ')}\n`);
console.log(`| rows | ${engines.map((e) => `${e}: step ms`).join(' | ')} | ${engines.map((e) => `${e}: ms a prediction fed`).join(' | ')} |`);
console.log(`|---:|${engines.map(() => '---:|').join('').repeat(2)}`);
for (const rows of argv.rows.split(',').map(Number)) {
  const step: Record<string, number> = {};
  const fed: Record<string, number> = {};
  const seen: Record<string, Next[]> = {};
  for (const engine of engines) {
    const cache: Cache = models[engine].model.newCache(rows, window, undefined, true);
    await cache.extend(ids(rows, argv.slots, 1), argv.slots, 0);
    const stepped = await time(20, (i) => cache.extend(ids(rows, 1, i), 1, argv.slots + i));
    const fedCall = await time(3, () => cache.extend(ids(rows, argv.fed, 3), argv.fed, 0, { predict: argv.fed }));
    cache.close?.();
    step[engine] = stepped.ms;
    fed[engine] = fedCall.ms / (rows * argv.fed);
    seen[engine] = [stepped.next, fedCall.next];
  }
  for (const engine of engines.slice(1)) {
    seen[engines[0]].forEach((next, i) => {
      assert.deepEqual(seen[engine][i].weights, next.weights, `${rows} rows: ${engine}'s weights differ from ${engines[0]}'s`);
      assert.deepEqual(seen[engine][i].logits, next.logits, `${rows} rows: ${engine}'s logits differ from ${engines[0]}'s`);
    });
  }
  console.log(`| ${rows} | ${engines.map((e) => step[e].toFixed(2)).join(' | ')} | ${engines.map((e) => fed[e].toFixed(3)).join(' | ')} |`);
}
