// The CPU work that compressing a block costs besides the model (src/frames.ts codeBlock), which decompressing never
// pays: for each block of FILE (1 MiB, as llmc cuts them, here at fixed offsets), the seconds to tokenize it with the
// model's tokenizer, to code its zstd -22 and brotli -q 11 frames, and to try cm under llmc's ceiling of 1.5 × the best
// frame so far, taken as the model's frame at --bits bits a byte (say what the model gets on that input). On a GPU
// these run on the CPU beside the model's steps.
// usage: node --import tsx bench/trials.ts [--model llmc-base-v3] [--bits 1.3] FILE...
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_BLOCK } from '../src/frames.ts';
import { DEFAULT_MODEL, loadModel } from '../src/model.ts';
import { onlyFrame } from '../src/range.ts';
import { brotliFrame, cmFrame, zstdFrame } from '../src/stored.ts';
import { sha256Prefix, tokensOfStr } from '../src/tokenize.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: DEFAULT_MODEL })
  .option('bits', { type: 'number', default: 1.3, describe: "the model's bits a byte on the input, which sets cm's ceiling" })
  .demandCommand(1)
  .strict()
  .parse();

const model = await loadModel(argv.model);
const seconds = async (work: () => unknown) => {
  const start = performance.now();
  const result = await work();
  return { s: (performance.now() - start) / 1000, result };
};
console.log(`| file | block | tokenize s | zstd s | brotli s | cm s | cm frame (under ${(1.5 * argv.bits).toFixed(2)} bits/byte) | all s |`);
console.log('|---|---:|---:|---:|---:|---:|---|---:|');
for (const file of argv._.map(String)) {
  const bytes = readFileSync(file);
  for (let start = 0; start < bytes.length; start += DEFAULT_BLOCK) {
    const block = bytes.subarray(start, start + DEFAULT_BLOCK);
    const place = onlyFrame(sha256Prefix(block));
    const tokenize = await seconds(() => tokensOfStr(block, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize }));
    const zstd = await seconds(() => zstdFrame(block, place));
    const brotli = await seconds(() => brotliFrame(block, place));
    const cm = await seconds(() => cmFrame(block, place, (1.5 * argv.bits * block.length) / 8));
    const frame = cm.result as Uint8Array | undefined;
    const all = tokenize.s + zstd.s + brotli.s + cm.s;
    const fixed = (s: number) => s.toFixed(2);
    console.log(`| ${file} | ${start / DEFAULT_BLOCK} | ${fixed(tokenize.s)} | ${fixed(zstd.s)} | ${fixed(brotli.s)} | ${fixed(cm.s)} | ${frame ? `${frame.length} bytes` : 'given up'} | ${fixed(all)} |`);
  }
}
