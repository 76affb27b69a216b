// Speed and ratio of coding layouts: context window, segment length and batch, on one text.
// Bits/byte is the model's cross-entropy (Σ −log2 p of the true tokens / bytes): what exact coding reaches
// within a header. tok/s and KB/s are the encoder's (the decoder runs the same steps).
// usage: node --import tsx bench/layout.ts [--model llmc-base] [--bytes 30000] [--offset 20000] W:SEG:BATCH ...
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { probabilityOf, walk } from '../src/codec.ts';
import { loadModel } from '../src/model.ts';
import { Frequencies, rankOf } from '../src/ranks.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('dtype', { choices: ['fp32', 'q8'] as const })
  .option('file', { type: 'string', default: 'examples/compressor/AStudyInScarlet.txt' })
  .option('bytes', { type: 'number', default: 30000 })
  .option('offset', { type: 'number', default: 20000 })
  .option('threads', { type: 'number', default: 2 })
  .option('device', { choices: ['cpu', 'webgpu', 'cuda'] as const, default: 'cpu' as const })
  .parse();
const model = await loadModel(argv.model, { dtype: argv.dtype, threads: argv.threads, device: argv.device });
const text = readFileSync(argv.file).subarray(argv.offset, argv.offset + argv.bytes).toString('utf8');
const bytes = Buffer.byteLength(text);
const tokens = model.tokenizer.encode(text, { add_special_tokens: false });
console.log(`${model.name} ${model.dtype} on ${argv.device}, ${argv.threads} threads, ${bytes} bytes of ${argv.file} from ${argv.offset}: ${tokens.length} tokens\n`);
console.log('| window | segment | batch | bits/byte | tok/s | KB/s | JS coder share |');
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const spec of argv._.map(String)) {
  const [contextwindow, segmentLength, batch] = spec.split(':').map(Number);
  let bits = 0, coderMs = 0;
  const f = new Frequencies(model.vocabSize, 24);
  const t0 = performance.now();
  await walk(model, tokens.length, { contextwindow, segmentLength, batch, precision: 24 }, (row, pos) => {
    const t = performance.now();
    const token = tokens[pos];
    rankOf(row.logits!, token);
    f.load(row.weights ?? row.probs!).interval(token);
    bits -= Math.log2(probabilityOf(row, token));
    coderMs += performance.now() - t;
    return token;
  });
  const s = (performance.now() - t0) / 1000;
  console.log(`| ${contextwindow} | ${segmentLength} | ${batch} | ${(bits / bytes).toFixed(4)} | ${(tokens.length / s).toFixed(0)} | ${(bytes / s / 1000).toFixed(2)} | ${(coderMs / 10 / s).toFixed(0)}% |`);
}
