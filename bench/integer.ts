// What integer arithmetic costs: the same model through its float int8 graph (the stepper, the default before
// decode-anywhere) and through its integer graph, on the same texts and layout. Bits/byte is what the exact
// coder spends (Σ log2(2^precision / frequency) over the tokens, so the .bin is this plus its header); KB/s is
// the model stage's, in process (run.sh adds its process start-ups to both alike).
// usage: node --import tsx bench/integer.ts [--model llmc-base] [--threads 2] [FILE ...]
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT, walk } from '../src/codec.ts';
import { type GraphKind, loadModel } from '../src/model.ts';
import { Frequencies } from '../src/ranks.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('threads', { type: 'number', default: 2 })
  .option('graphs', { type: 'string', default: 'stepper,integer' })
  .parse();
const files = argv._.length ? argv._.map(String) : ['examples/compressor/AStudyInScarlet.txt'];
console.log(`${argv.model}, ${argv.threads} threads, window ${'default'}, segments ${DEFAULT_LAYOUT.segmentLength}, batch ${DEFAULT_LAYOUT.batch}\n`);
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
  }
}
