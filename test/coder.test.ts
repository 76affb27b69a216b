// The GPU's walk (src/codec.ts, walkOnDevice): every row of a step asked at once, and the exact coder and the mixer's
// share answered where the model runs. Here the CPU's engine answers through the twin of the GPU's kernel
// (src/ranks.ts, codeRows), which is how this walk is checked where there is no GPU; on one, the CUDA engine gives the
// same bytes (BENCHMARKS.md, "The CUDA engine").
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cacheOfLayout, DEFAULT_LAYOUT, decodeExact, decodeExactMany, rankTokens, schedule } from '../src/codec.ts';
import { BIAS_MIXER, DEFAULT_MIXER, MATCH_MIXER } from '../src/mixer.ts';
import { loadModel } from '../src/model.ts';
import { rangeEncode } from '../src/range.ts';
import { tokensOfStr, tokensToStr } from '../src/tokenize.ts';
import { ROOT } from './helpers.ts';

const TEXT = readFileSync(join(ROOT, 'node_modules', 'protobufjs', 'google', 'protobuf', 'descriptor.json')).subarray(0, 7000);

test('the GPU\'s walk gives the intervals, ranks and stream of the CPU\'s, and decodes with a lane a row, mixed or not', async () => {
  const model = await loadModel('llmc-tiny-v2', { engine: 'native' });
  const onDevice = { ...model, codesOnDevice: true };
  const doc = tokensOfStr(TEXT, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize, comment: null });
  // 64-token segments, 8 a step: the stream fills a group of rows, so it has a lane a row, and the last group is short
  const base = { ...DEFAULT_LAYOUT, mode: 'exact' as const, contextwindow: 64, segmentLength: 64, batch: 8 };
  assert.ok(doc.tokenList.length > 16 * base.segmentLength && doc.tokenList.length < 24 * base.segmentLength, `${doc.tokenList.length} tokens`);
  for (const mixer of [MATCH_MIXER, BIAS_MIXER, DEFAULT_MIXER, undefined]) {
    const layout = { ...base, ...(mixer ? { mixer } : {}) };
    const cpu = await rankTokens(doc, model, layout);
    const device = await rankTokens(doc, onDevice, layout);
    assert.equal(device.lanes, 8);
    assert.deepEqual(device.intervals, cpu.intervals, `mixer ${mixer?.version ?? 'none'}: the intervals`);
    assert.deepEqual(device.tokenList, cpu.tokenList, `mixer ${mixer?.version ?? 'none'}: the tokens, their ranks and probabilities`);
    const ranged = rangeEncode(device);
    assert.deepEqual(rangeEncode(cpu).compressed, ranged.compressed);
    for (const decoder of [onDevice, model]) {
      const decoded = await decodeExact(ranged, decoder);
      assert.deepEqual(decoded.tokenList, cpu.tokenList, `mixer ${mixer?.version ?? 'none'}: decoded`);
      assert.deepEqual(Buffer.from(tokensToStr(decoded, model.tokenizer, model.vocabulary)), TEXT);
    }
  }
  // a damaged stream: the walk refuses it, as the CPU's does
  const ranged = rangeEncode(await rankTokens(doc, model, { ...base, mixer: DEFAULT_MIXER }));
  const damaged = { ...ranged, compressed: ranged.compressed.map((w, i) => (i === 40 ? w ^ 0x1000 : w)) };
  await assert.rejects(decodeExact(damaged, onDevice), /rANS|interval|precision|state/);
});

test('streams decoded together on the GPU\'s walk: one step holds all their rows, each gives its own tokens (each its own token bias), and a damaged one fails alone', async () => {
  const model = await loadModel('llmc-tiny-v2', { engine: 'native' });
  const rowsOfCaches: number[] = [];
  const onDevice = { ...model, codesOnDevice: true, newCache: (...args: Parameters<typeof model.newCache>) => (rowsOfCaches.push(args[0]), model.newCache(...args)) };
  const layout = { ...DEFAULT_LAYOUT, mode: 'exact' as const, contextwindow: 64, segmentLength: 64, batch: 8 };
  const texts = [TEXT.subarray(0, 5000), TEXT.subarray(1000, 7000), Buffer.from(readFileSync(join(ROOT, 'src', 'codec.ts')).subarray(0, 6000))];
  // the first and the last with a token bias of their own (two slots in a round), the damaged one without
  const mixers = [DEFAULT_MIXER, MATCH_MIXER, DEFAULT_MIXER];
  const streams = await Promise.all(texts.map(async (text, k) => rangeEncode(await rankTokens(tokensOfStr(text, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize, comment: null }), model, { ...layout, mixer: mixers[k] }))));
  const damaged = { ...streams[1], compressed: streams[1].compressed.map((w, i) => (i === 40 ? w ^ 0x1000 : w)) };
  const rowsOf = (doc: (typeof streams)[number]) => schedule(doc.length, doc.segmentLength, doc.batch).map((g) => g.starts.length);
  // each with a lane a row, and groups of rows that end at different rounds
  assert.ok(streams.every((doc) => rowsOf(doc).length >= 2 && doc.lanes === 8) && new Set(streams.map((doc) => rowsOf(doc).length)).size > 1, String(streams.map(rowsOf)));
  const together = await decodeExactMany([streams[0], damaged, streams[2]], onDevice);
  // group g of every stream that has one in one cache, their rows summed
  const rounds = Math.max(...streams.map((doc) => rowsOf(doc).length));
  assert.deepEqual(rowsOfCaches, Array.from({ length: rounds }, (_, g) => streams.reduce((sum, doc) => sum + (rowsOf(doc)[g] ?? 0), 0)));
  // it fails within the walk (not at its end), whose other rows go on
  assert.match(String(together[1]), /ended early|does not contain|outside 2\^precision/);
  for (const k of [0, 2]) {
    const decoded = together[k];
    assert.ok(!(decoded instanceof Error), String(decoded));
    assert.deepEqual(Buffer.from(tokensToStr(decoded, model.tokenizer, model.vocabulary)), texts[k]);
    assert.deepEqual(decoded, await decodeExact(streams[k], model), `stream ${k}: the tokens, ranks and probabilities it has alone`);
  }
  // --memory for one stream's cache: each walks alone
  rowsOfCaches.length = 0;
  const alone = await decodeExactMany([streams[0], streams[2]], onDevice, cacheOfLayout(streams[0].length, streams[0], model));
  assert.deepEqual(rowsOfCaches, [...rowsOf(streams[0]), ...rowsOf(streams[2])]);
  assert.deepEqual(alone, [together[0], together[2]]);
});
