// Decode anywhere: the engines of the integer model, the graph through onnxruntime, the native engine
// (native/integer.c, the default where it builds) and, where there is an NVIDIA GPU, the CUDA engine (native/cuda.c),
// against the plain-TypeScript integer model (src/integer.ts), bit for bit, on real text with the tiny models: every
// position's integer logits and the weights the exact coder takes, through batches of rows, restarts of the window,
// and thread counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntegerReference, type ReferenceCache } from '../src/integer.ts';
import { type LanguageModel, loadModel, Stepper } from '../src/model.ts';
import { type Engine, kernels, nativeEngine } from '../src/native.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startThread } from '../src/threads.ts';
import { SCARLET } from './helpers.ts';

const text = SCARLET.subarray(100_000, 120_000).toString();

/** One stream through the reference, with the Stepper's window rule restated: on a full window, keep the last W/4 tokens. */
class ReferenceStream {
  private cache: ReferenceCache;
  private history: number[] = [];

  constructor(private readonly reference: IntegerReference, private readonly window: number) {
    this.cache = reference.newCache();
  }

  step(token: number) {
    this.history.push(token);
    if (this.cache[0].keys.length >= this.window) {
      this.history = this.history.slice(-(Math.floor(this.window / 4) + 1));
      this.cache = this.reference.newCache();
      let out!: ReturnType<IntegerReference['step']>;
      this.history.forEach((t, p) => (out = this.reference.step(t, p, this.cache)));
      return out;
    }
    return this.reference.step(token, this.cache[0].keys.length, this.cache);
  }
}

/** Steps `rows` streams of `tokens` through the graph and the reference; returns the positions compared. */
async function compare(model: LanguageModel, streams: number[][], window: number): Promise<number> {
  const stepper = new Stepper(model, streams.length, window);
  const reference = new IntegerReference(model.dir);
  const refs = streams.map(() => new ReferenceStream(reference, window));
  const V = model.vocabSize;
  let compared = 0;
  for (let i = 0; i < streams[0].length; i++) {
    const fed = streams.map((s) => s[i]);
    const { logits, weights } = await stepper.step(fed);
    fed.forEach((token, r) => {
      const expected = refs[r].step(token);
      const graphLogits = Array.from(logits!.subarray(r * V, (r + 1) * V));
      const graphWeights = Array.from(weights!.subarray(r * V, (r + 1) * V));
      assert.deepEqual(graphLogits, expected.logits, `logits, step ${i} row ${r}`);
      assert.deepEqual(graphWeights, expected.weights, `weights, step ${i} row ${r}`);
      compared++;
    });
  }
  return compared;
}

/** Whether the CUDA engine runs here: true, or its one-line reason why not. */
const gpu: true | string = await loadModel('llmc-tiny', { engine: 'cuda' }).then(() => true, (err: Error) => err.message);
const ENGINES: Engine[] = ['onnx', 'native', 'cuda'];

for (const engine of ENGINES) {
  const skip = engine === 'cuda' && gpu !== true ? `no GPU here: ${gpu}` : false;
  test(`${engine}: the integer model's numbers exactly, 2,400 positions of text, 4 rows, restarts`, { skip }, async () => {
    const model = await loadModel('llmc-tiny', { threads: 2, engine });
    assert.equal(model.engine, engine);
    assert.equal(model.graph, 'integer.onnx');
    assert.equal(model.arithmetic, 'integer-1');
    const ids = model.tokenizer.encode(text, { add_special_tokens: false });
    const rows = 4, length = 600;
    assert.ok(ids.length >= rows * length);
    const streams = Array.from({ length: rows }, (_, r) => [model.bos, ...ids.slice(r * length, (r + 1) * length - 1)]);
    assert.equal(await compare(model, streams, 96), rows * length); // a 96 window restarts each row 7 times
  });

  test(`${engine}: model v2's twin (its 16k tokenizer, trained on code and data too) holds to the reference on TypeScript, in an odd window`, { skip }, async () => {
    const model = await loadModel('llmc-tiny-v2', { threads: 2, engine });
    assert.equal(model.graph, 'integer.onnx');
    const ids = model.tokenizer.encode(readFileSync(new URL('../src/mixer.ts', import.meta.url), 'utf8'), { add_special_tokens: false });
    const rows = 2, length = 150;
    const streams = Array.from({ length: rows }, (_, r) => [model.bos, ...ids.slice(r * length, (r + 1) * length - 1)]);
    assert.equal(await compare(model, streams, 63), rows * length); // the CUDA engine lays 63 slots out as 64
  });

  test(`${engine}: thread count and batch do not change a row's numbers (onnx: rows split over two sessions, src/rows.ts)`, { skip }, async () => {
    const one = await loadModel('llmc-tiny', { threads: 1, engine });
    const two = await loadModel('llmc-tiny', { threads: 2, engine });
    const ids = one.tokenizer.encode(text.slice(0, 3000), { add_special_tokens: false }).slice(0, 150);
    const alone = new Stepper(one, 1, 64), batched = new Stepper(two, 16, 64); // 16 rows: 8 here, 8 in a worker
    const V = one.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const a = await alone.step([ids[i]]);
      const b = await batched.step([3, 7, 11, 0, 5, 13, 2, 19, 17, 23, 1, 29, 0, 31, 37, 41].map((k) => ids[(i + k) % ids.length]));
      for (const r of [3, 12]) {
        assert.deepEqual(b.logits!.subarray(r * V, (r + 1) * V), a.logits, `step ${i} row ${r}`);
        assert.deepEqual(b.weights!.subarray(r * V, (r + 1) * V), a.weights, `step ${i} row ${r}`);
      }
    }
  });

  test(`${engine}: a window wider than the integer graph's positions is refused in one line`, { skip }, async () => {
    const model = await loadModel('llmc-tiny', { engine });
    assert.throws(() => new Stepper(model, 1, (model.maxWindow ?? 0) + 1), /more than the 256 positions/);
  });

  test(`${engine}: an encoder feeding many positions a call gets the integers of a decoder's steps, across restarts`, { skip }, async () => {
    const model = await loadModel('llmc-tiny', { threads: 2, engine });
    const ids = model.tokenizer.encode(text.slice(3000, 9000), { add_special_tokens: false });
    const rows = 3, length = 200, window = 64, V = model.vocabSize;
    const streams = Array.from({ length: rows }, (_, r) => [model.bos, ...ids.slice(r * length, (r + 1) * length - 1)]);
    const stepped = new Stepper(model, rows, window);
    const expected: { logits: number[]; weights: number[] }[][] = [];
    for (let i = 0; i < length; i++) {
      const { logits, weights } = await stepped.step(streams.map((s) => s[i]));
      expected.push(streams.map((_, r) => ({ logits: Array.from(logits!.subarray(r * V, (r + 1) * V)), weights: Array.from(weights!.subarray(r * V, (r + 1) * V)) })));
    }
    const fed = new Stepper(await loadModel('llmc-tiny', { threads: 2, engine }), rows, window, undefined, true); // onnx: rows split over two sessions
    const sizes = [1, 5, 63, 17, 48, 1, 2, 30]; // some fill the window exactly, some restart it
    let i = 0;
    for (let call = 0; i < length; call++) {
      const n = Math.min(sizes[call % sizes.length], fed.room(), length - i);
      const { logits, weights } = await fed.feed(streams.map((s) => s.slice(i, i + n)));
      for (let k = 0; k < n; k++, i++) {
        streams.forEach((_, r) => {
          const at = (r * n + k) * V;
          assert.deepEqual(Array.from(logits!.subarray(at, at + V)), expected[i][r].logits, `logits, position ${i} row ${r}`);
          assert.deepEqual(Array.from(weights!.subarray(at, at + V)), expected[i][r].weights, `weights, position ${i} row ${r}`);
        });
      }
    }
    await assert.rejects(fed.feed(streams.map(() => new Array(fed.room() + 1).fill(model.bos))), /do not fit/);
  });
}

test('the native engine is what runs by default where a C compiler is, and it refuses what is not the model\'s', async () => {
  const model = await loadModel('llmc-tiny');
  assert.equal(model.engine, 'native');
  const cache = model.newCache(2, 32);
  await assert.rejects(cache.extend(BigInt64Array.of(1n, BigInt(model.vocabSize)), 1, 0), /token id is outside the model's vocabulary/);
  await assert.rejects(cache.extend(BigInt64Array.of(1n, 2n), 1, 32), /run past the cache's window/);
  cache.close!();
  await assert.rejects(cache.extend(BigInt64Array.of(1n, 2n), 1, 0), /this cache was closed/);
  await assert.rejects(loadModel('llmc-tiny', { engine: 'gpu' as Engine }), /LLMC_ENGINE must be native, cuda or onnx, got 'gpu'/);
});

test('threads that build the native addon at once (llmc\'s frame workers on a first run) each load a whole one', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'llmc-build-'));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  const built = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => new Promise((done) => startThread(new URL('./fixtures/buildAddon.ts', import.meta.url), folder).once('message', done))));
  assert.equal(new Set(built).size, 1, String(built));
  assert.match(String(built[0]), /integer-[0-9a-f]{16}\.node$/);
  assert.deepEqual(readdirSync(folder), [basename(String(built[0]))], 'no file left half-written');
});

test('the kernels of an older GPU (LLMC_CUDA_ARCH=75: dot products by dp4a, attention without the tensor cores) give this GPU\'s numbers: the cuda tests again', { skip: gpu === true ? (process.env.LLMC_CUDA_ARCH ? 'an architecture asked for' : false) : `no GPU here: ${gpu}` }, () => {
  const older = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-name-pattern', '^cuda: ', fileURLToPath(import.meta.url)], { env: { ...process.env, NODE_TEST_CONTEXT: undefined, LLMC_CUDA_ARCH: '75' }, encoding: 'utf8' });
  assert.equal(older.status, 0, older.stdout + older.stderr);
  assert.match(older.stdout, /# pass 5\n/, older.stdout);
  const newer = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'scripts', 'llmc.ts'), '-n', 'llmc-tiny', '--engine', 'cuda'], { input: SCARLET.subarray(0, 20_000), env: { ...process.env, LLMC_CUDA_ARCH: '99' }, encoding: 'utf8' });
  assert.notEqual(newer.status, 0);
  assert.match(newer.stderr, /^llmc: .*LLMC_CUDA_ARCH must be a compute capability from 61 to this GPU's \d+, got '99'\n$/);
});

test('where the CUDA engine cannot run, it says why in one line', { skip: gpu === true ? 'a GPU is here: the cuda tests above ran' : false }, () => {
  assert.match(gpu as string, /^the CUDA engine cannot run: (no NVIDIA driver here \(libcuda\.so\.1 did not load\)|no NVIDIA GPU here|NVRTC was not found .*)$/);
});

test('cudaFree reads a GPU\'s free memory, and -1 for a GPU that is not there', () => {
  const addon = nativeEngine('native')!;
  const count = addon.cudaCount();
  assert.equal(addon.cudaFree(count), -1);
  assert.equal(addon.cudaFree(-1), -1);
  for (let i = 0; i < count; i++) assert.ok(addon.cudaFree(i) > 2 ** 20, `GPU ${i}: ${addon.cudaFree(i)} bytes free`);
});

test('the GPU kernels compile for Hopper and for Turing, the oldest GPU that NVRTC 11 to 13 all take (where its library is)', async (t) => {
  const addon = nativeEngine('native')!;
  const { source, header } = kernels();
  let compiled: number;
  try {
    compiled = addon.cudaCompile(source, header, 90);
  } catch (err) {
    if (/NVRTC was not found/.test((err as Error).message)) return t.skip((err as Error).message);
    throw err;
  }
  assert.ok(compiled > 10_000, `a cubin of ${compiled} bytes`);
  assert.ok(addon.cudaCompile(source, header, 75) > 10_000);
  // each architecture's own dot product is compiled: the tensor cores' from sm_80, dp4a before
  assert.throws(() => addon.cudaCompile(source.replace('m16n8k32.row.col', 'm16n8k33.row.col'), header, 90), /NVRTC could not compile the kernels for sm_90/);
  assert.throws(() => addon.cudaCompile(source.replace('dp4a.s32.s32', 'dp4a.s33.s32'), header, 75), /NVRTC could not compile the kernels for sm_75/);
  assert.throws(() => addon.cudaCompile(source, '', 90), /NVRTC could not compile the kernels for sm_90/, 'without exact.h');
});

test('every dot-product kernel this CPU runs gives the same numbers: the native tests again under each other kernel', { skip: process.env.LLMC_NATIVE_KERNEL ? 'one kernel asked for' : false }, async (t) => {
  await loadModel('llmc-tiny');
  const mine = nativeEngine()!.kernel();
  assert.match(mine, /^(plain|avx2|vnni)$/);
  for (const kernel of ['plain', 'avx2', 'vnni'].filter((k) => k !== mine)) {
    // a fresh test run (not a child of this one, which would report in the runner's own protocol)
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-name-pattern', '^native: ', fileURLToPath(import.meta.url)], { env: { ...process.env, NODE_TEST_CONTEXT: undefined, LLMC_NATIVE_KERNEL: kernel }, encoding: 'utf8' });
    if (/kernel this CPU does not run/.test(run.stdout)) {
      t.diagnostic(`${kernel}: not on this CPU`);
      continue;
    }
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /# pass 5\n/, `${kernel}: ${run.stdout}`);
  }
});
