// What integer arithmetic costs: the same model through its float int8 graph (the stepper, the default before
// decode-anywhere) and through its integer graph, on the same texts and layout. Bits/byte is what the exact
// coder spends (Σ log2(2^precision / frequency) over the tokens, so the .bin is this plus its header); KB/s is
// the model stage's, in process (run.sh adds its process start-ups to both alike).
// With --reference N, the integer graph's first N positions of each file are also compared, bit for bit, with the
// plain-TypeScript integer model (src/integer.ts): the test does this for llmc-tiny, this does it for any model.
// usage: node --import tsx bench/integer.ts [--model llmc-base] [--threads 2] [--reference 64] [FILE ...]
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT, walk } from '../src/codec.ts';
import { IntegerReference } from '../src/integer.ts';
import { type GraphKind, type LanguageModel, loadModel, Stepper } from '../src/model.ts';
import { Frequencies } from '../src/ranks.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('threads', { type: 'number', default: 2 })
  .option('graphs', { type: 'string', default: 'stepper,integer' })
  .option('reference', { type: 'number', default: 0 })
  .parse();

/** Positions of `tokens` (from BOS) where the integer graph and src/integer.ts disagree, of the first n. */
async function disagreements(model: LanguageModel, tokens: number[], n: number): Promise<number> {
  const reference = new IntegerReference(model.dir);
  const cache = reference.newCache();
  const stepper = new Stepper(model, 1, model.defaultWindow);
  const fed = [model.bos, ...tokens].slice(0, n);
  let bad = 0;
  for (let p = 0; p < fed.length; p++) {
    const { logits, weights } = await stepper.step([fed[p]]);
    const expected = reference.step(fed[p], p, cache);
    if (expected.logits.some((x, j) => x !== logits![j]) || expected.weights.some((x, j) => x !== weights![j])) bad++;
  }
  return bad;
}
const files = argv._.length ? argv._.map(String) : ['examples/compressor/AStudyInScarlet.txt'];
console.log(`${argv.model}, ${argv.threads} threads, the model's window, segments of ${DEFAULT_LAYOUT.segmentLength} tokens, batch ${DEFAULT_LAYOUT.batch}\n`);
console.log('| file | bytes | graph | arithmetic | bits/byte | KB/s |\n|---|---:|---|---|---:|---:|');
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const bytes = Buffer.byteLength(text);
  for (const graph of argv.graphs.split(',') as GraphKind[]) {
    const model = await loadModel(argv.model, { graph, dtype: graph === 'integer' ? undefined : 'q8', threads: argv.threads });
    const tokens = model.tokenizer.encode(text, { add_special_tokens: false });
    const freqs = new Frequencies(model.vocabSize, DEFAULT_LAYOUT.precision);
    let bits = 0;
    const t0 = performance.now();
    const layout = { ...DEFAULT_LAYOUT, contextwindow: model.defaultWindow };
    await walk(model, tokens.length, layout, ({ probs, weights }, pos) => {
      const [, freq] = freqs.load(weights ?? probs!).interval(tokens[pos]);
      bits += DEFAULT_LAYOUT.precision - Math.log2(freq);
      return tokens[pos];
    });
    const seconds = (performance.now() - t0) / 1000;
    const name = file.split('/').pop();
    console.log(`| ${name} | ${bytes} | ${model.graph} | ${model.arithmetic} | ${(bits / bytes).toFixed(4)} | ${(bytes / seconds / 1000).toFixed(2)} |`);
    if (graph === 'integer' && argv.reference > 0) {
      const bad = await disagreements(model, tokens, argv.reference);
      console.log(`|  | first ${argv.reference} positions against src/integer.ts | | | ${bad ? `${bad} DIFFER` : 'identical'} | |`);
      if (bad) process.exitCode = 1;
    }
  }
}
