// The model path itself: the stepper graph against torch and against transformers.js running the other graph,
// cached steps against full passes, the window rule, the coder graph against the stepper graph, and the
// rank/frequency maths.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor } from '@huggingface/transformers';
import { CODED, DECODED, loadModel, loadTransformersGraph, Stepper } from '../src/model.ts';
import { Frequencies, nativeRows, rankOf, tokenAtRank } from '../src/ranks.ts';
import { rng } from '../src/fuzz.ts';
import { schedule, visitOrder } from '../src/codec.ts';
import { SCARLET } from './helpers.ts';

const model = await loadModel('llmc-tiny', { dtype: 'fp32', threads: 1 });
const transformersForward = await loadTransformersGraph('llmc-tiny', { dtype: 'fp32', threads: 1 });
const tokens = model.tokenizer.encode(SCARLET.subarray(30_000, 31_000).toString(), { add_special_tokens: false }).slice(0, 60);

/** Logits of one full forward pass of the transformers.js graph over `ids` (positions 0..n-1, no cache): n × vocab. */
async function fullPass(ids: number[]): Promise<Float32Array> {
  const n = ids.length;
  const out = await transformersForward({
    input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
    attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, n]),
  });
  return out.logits.data as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const V = model.vocabSize;

test('the stepper graph gives torch\'s logits (train/export.py\'s reference for llmc-tiny)', async () => {
  assert.equal(model.graph, 'stepper.onnx');
  const reference = JSON.parse(readFileSync(new URL('fixtures/llmc-tiny-torch.json', import.meta.url), 'utf8')) as { ids: number[][]; positions: number[]; logits: string };
  const torch = new Float32Array(Uint8Array.from(Buffer.from(reference.logits, 'base64')).buffer);
  const stepper = new Stepper(model, 2, 256);
  for (let p = 0, seen = 0; p < reference.ids[0].length; p++) {
    const { logits } = await stepper.step(reference.ids.map((row) => row[p]));
    if (!reference.positions.includes(p)) continue;
    for (let r = 0; r < 2; r++) {
      const expected = torch.subarray((r * reference.positions.length + seen) * V, (r * reference.positions.length + seen + 1) * V);
      const diff = maxDiff(logits!.subarray(r * V, (r + 1) * V), expected);
      assert.ok(diff < 1e-4, `row ${r} position ${p}: max |Δlogit| = ${diff}`);
    }
    seen++;
  }
});

test('the stepper graph steps like transformers.js steps the transformers.js graph, restarts included', async () => {
  const reference = await loadModel('llmc-tiny', { dtype: 'fp32', threads: 1, graph: 'transformers' });
  assert.equal(reference.graph, 'model.onnx');
  const ids = [model.bos, ...tokens.slice(0, 50)];
  const ours = new Stepper(model, 1, 24), theirs = new Stepper(reference, 1, 24);
  for (let i = 0; i < ids.length; i++) {
    const [a, b] = [await ours.step([ids[i]]), await theirs.step([ids[i]])];
    assert.ok(maxDiff(a.logits!, b.logits!) < 1e-4, `position ${i}`);
    assert.ok(maxDiff(a.probs!, b.probs!) < 1e-6, `position ${i}`);
  }
});

test('cached steps give the logits of a full forward pass over the same tokens', async () => {
  const ids = [model.bos, ...tokens.slice(0, 40)];
  const full = await fullPass(ids);
  const stepper = new Stepper(model, 1, 256);
  for (let i = 0; i < ids.length; i++) {
    const { logits } = await stepper.step([ids[i]]);
    const diff = maxDiff(logits!, full.subarray(i * V, (i + 1) * V));
    assert.ok(diff < 1e-4, `position ${i}: max |Δlogit| = ${diff}`);
  }
});

test('when the window is full, the model restarts from the last quarter window (the documented rule)', async () => {
  const W = 16;
  const ids = [model.bos, ...tokens.slice(0, 40)];
  const stepper = new Stepper(model, 1, W);
  let history: number[] = [];
  let cached = 0;
  for (let i = 0; i < ids.length; i++) {
    const { logits } = await stepper.step([ids[i]]);
    // The rule, restated: the context is everything since the last restart, which kept W/4 tokens.
    if (cached >= W) {
      history = history.slice(-W / 4);
      cached = W / 4;
    }
    history.push(ids[i]);
    cached++;
    const expected = (await fullPass(history)).subarray((history.length - 1) * V, history.length * V);
    assert.ok(maxDiff(logits!, expected) < 1e-4, `position ${i}`);
  }
});

test('rows of a batch are independent: each equals the same stream stepped alone', async () => {
  const a = [model.bos, ...tokens.slice(0, 20)], b = [model.bos, ...tokens.slice(20, 40)];
  const both = new Stepper(model, 2, 64), alone = new Stepper(model, 1, 64);
  for (let i = 0; i < a.length; i++) {
    const pair = (await both.step([a[i], b[i]])).logits!;
    const single = (await alone.step([b[i]])).logits!;
    assert.ok(maxDiff(pair.subarray(V, 2 * V), single) < 1e-4, `step ${i}`);
  }
});

test('the coder graph predicts what the stepper graph predicts, and its intervals decode to their tokens', async () => {
  // Two streams in a batch through a window of 24 (restarts included). One coder stepper is asked for the next
  // tokens' intervals, a second one, in step, for the token holding a value inside each of those intervals.
  const coder = await loadModel('llmc-tiny', { dtype: 'fp32', threads: 1, graph: 'coder' });
  assert.equal(coder.graph, 'coder.onnx');
  const rows = [[model.bos, ...tokens.slice(0, 45)], [model.bos, ...tokens.slice(10, 55)]];
  const stepper = new Stepper(model, 2, 24), asked = new Stepper(coder, 2, 24, 24), answered = new Stepper(coder, 2, 24, 24);
  for (let i = 0; i + 1 < rows[0].length; i++) {
    const fed = rows.map((row) => row[i]), next = rows.map((row) => row[i + 1]);
    const { logits, probs } = await stepper.step(fed);
    const { coded } = await asked.step(fed, Int32Array.from(next));
    const inside = Int32Array.from(next, (_, r) => coded![r * CODED] + Math.floor(coded![r * CODED + 1] / 2));
    const { decoded } = await answered.step(fed, inside);
    next.forEach((token, r) => {
      const [start, freq, rank, p] = coded!.subarray(r * CODED, (r + 1) * CODED);
      assert.ok(Math.abs(p - probs![r * V + token]) < 1e-6, `step ${i} row ${r}: p ${p} vs ${probs![r * V + token]}`);
      assert.equal(rank, rankOf(logits!.subarray(r * V, (r + 1) * V), token));
      assert.ok(freq >= 1 && start + freq <= 2 ** 24);
      assert.deepEqual([...decoded!.subarray(r * DECODED, r * DECODED + 3)], [token, start, freq], `step ${i} row ${r}`);
    });
  }
});

test('rankOf and tokenAtRank are inverse, ties broken by id', () => {
  const logits = Float32Array.from({ length: 500 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 20) / 4);
  for (const token of [0, 1, 17, 250, 499]) assert.equal(tokenAtRank(logits, rankOf(logits, token)), token);
  for (const rank of [0, 1, 5, 127, 499]) assert.equal(rankOf(logits, tokenAtRank(logits, rank)), rank);
});

test('exact frequencies: every token > 0, the sum is 2^precision, intervals tile it, first choice first', () => {
  const weights = Float32Array.from({ length: V }, (_, i) => Math.exp(Math.sin(i * 0.37) * 8 + (i === 777 ? 30 : 0)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const f = new Frequencies(V, 20).load(weights.map((w) => w / sum));
  assert.equal(f.top, 777);
  assert.deepEqual(f.interval(777), [0, f.freqs[777]]);
  assert.equal(f.freqs.reduce((a, b) => a + b, 0), 2 ** 20);
  assert.ok(f.freqs.every((x) => x >= 1));
  for (const token of [0, 1, 776, 778, V - 1]) {
    const [start, freq] = f.interval(token);
    assert.deepEqual(f.find(start), { token, start, freq });
    assert.deepEqual(f.find(start + freq - 1), { token, start, freq });
  }
});

test('the coder\'s row arithmetic in C gives TypeScript\'s numbers: frequencies, the mixer\'s share, intervals, finds, ranks', async () => {
  const native = nativeRows();
  assert.ok(native, 'the native addon builds here');
  const v2 = await loadModel('llmc-tiny-v2');
  const W = v2.vocabSize, total = 2 ** 24;
  const ids = v2.tokenizer.encode(SCARLET.subarray(30_000, 31_000).toString(), { add_special_tokens: false }).slice(0, 40);
  const stepper = new Stepper(v2, 1, 64);
  const random = rng(11);
  for (const id of ids) {
    const { weights, logits } = await stepper.step([id]);
    const ours = new Frequencies(W, 24, undefined).load(weights!);
    const theirs = new Frequencies(W, 24, native).load(weights!);
    assert.equal(theirs.top, ours.top);
    assert.deepEqual(theirs.freqs, ours.freqs);
    for (const token of [0, ours.top, id, W - 1, Math.floor(random() * W)]) {
      assert.deepEqual(theirs.interval(token), ours.interval(token));
      assert.equal(rankOf(logits!, token, native), rankOf(logits!, token, undefined));
    }
    for (const cum of [0, ours.freqs[ours.top] - 1, ours.freqs[ours.top], total - 1, Math.floor(random() * total)]) assert.deepEqual(theirs.find(cum), ours.find(cum));
    const loaded = ours.freqs.slice();
    for (const share of [0, 1 << 8, Math.floor(random() * total), total - W, total]) {
      const token = share === 1 << 8 ? ours.top : Math.floor(random() * W);
      ours.freqs.set(loaded);
      theirs.freqs.set(loaded);
      ours.share(token, share);
      theirs.share(token, share);
      assert.deepEqual(theirs.freqs, ours.freqs, `share ${share} for token ${token}`);
    }
  }
});

test('the schedule covers every position once, in groups of at most `batch` segments', () => {
  for (const [count, seg, batch] of [[0, 10, 2], [1, 0, 1], [95, 10, 4], [100, 10, 3], [7, 100, 8]]) {
    const order = visitOrder(count, seg, batch);
    assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: count }, (_, i) => i));
    for (const g of schedule(count, seg, batch)) assert.ok(g.starts.length <= batch);
  }
});
