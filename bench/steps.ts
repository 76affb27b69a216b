// Cost of one token in the model stage, by model: batched cached steps (32 rows, window filled to ~300) plus
// the exact coder's work on each row (frequencies, interval, rank). Synthetic token ids, so any model folder
// works, trained or not: this measures speed only (for bits/byte see layout.ts and frontier.sh).
// usage: node --import tsx bench/steps.ts [--rows 32] MODEL_DIR ...
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadModel, Stepper } from '../src/model.ts';
import { Frequencies, rankOf } from '../src/ranks.ts';

const argv = await yargs(hideBin(process.argv)).option('rows', { type: 'number', default: 32 }).option('steps', { type: 'number', default: 60 }).parse();
console.log(`| model | vocab | rows | model ms/token | coder µs/token | tokens/s |\n|---|---:|---:|---:|---:|---:|`);
for (const dir of argv._.map(String)) {
  const model = await loadModel(dir, { threads: 2 });
  const V = model.vocabSize;
  const stepper = new Stepper(model, argv.rows, 384);
  const freqs = new Frequencies(V, 24);
  const feed = (i: number) => Array.from({ length: argv.rows }, (_, r) => (i * 7919 + r * 104729) % V);
  for (let i = 0; i < 300; i++) await stepper.step(feed(i));
  let modelMs = 0, coderMs = 0;
  for (let i = 0; i < argv.steps; i++) {
    const t0 = performance.now();
    const { logits, probs, weights } = await stepper.step(feed(300 + i));
    const t1 = performance.now();
    for (let r = 0; r < argv.rows; r++) {
      const token = feed(301 + i)[r];
      freqs.load((weights ?? probs!).subarray(r * V, (r + 1) * V)).interval(token);
      rankOf(logits!.subarray(r * V, (r + 1) * V), token);
    }
    modelMs += t1 - t0;
    coderMs += performance.now() - t1;
  }
  const perToken = (ms: number) => ms / (argv.steps * argv.rows);
  console.log(`| ${dir} | ${V} | ${argv.rows} | ${perToken(modelMs).toFixed(3)} | ${(perToken(coderMs) * 1000).toFixed(0)} | ${(1000 / perToken(modelMs + coderMs)).toFixed(0)} |`);
}
