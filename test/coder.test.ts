// The GPU's walk (src/codec.ts, walkOnDevice): every row of a step asked at once, and the exact coder and the mixer's
// share answered where the model runs. Here the CPU's engine answers through the twin of the GPU's kernel
// (src/ranks.ts, codeRows), which is how this walk is checked where there is no GPU; on one, the CUDA engine gives the
// same bytes (BENCHMARKS.md, "The CUDA engine").
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_LAYOUT, decodeExact, rankTokens } from '../src/codec.ts';
import { DEFAULT_MIXER } from '../src/mixer.ts';
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
  for (const mixer of [DEFAULT_MIXER, undefined]) {
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
