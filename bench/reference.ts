// The reference algorithm's speed against ours, with the same model and graph: the reference recomputes the
// whole window for every token (no cache, one row); ours steps a cached batch (bench/layout.ts). Prints tokens/s
// of the reference over `--tokens` tokens that each see a full window of `--window` tokens of Scarlet. --per FILE also
// prints FILE's bytes a token as llmc tokenizes it (1 MiB blocks), which turn a speed in bytes/s into tokens/s.
// usage: node --import tsx bench/reference.ts [--model llmc-base] [--window 384] [--tokens 200] [--per FILE]
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_BLOCK } from '../src/frames.ts';
import { loadModel } from '../src/model.ts';
import { tokensOfStr } from '../src/tokenize.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('window', { type: 'number', default: 384 })
  .option('tokens', { type: 'number', default: 200 })
  .option('threads', { type: 'number', default: 2 })
  .option('per', { type: 'string', describe: "a file whose bytes a token to print" })
  .parse();
const model = await loadModel(argv.model, { threads: argv.threads });
const text = readFileSync('examples/compressor/AStudyInScarlet.txt', 'utf8').slice(20_000, 60_000);
const tokens = model.tokenizer.encode(text, { add_special_tokens: false });
const cache = model.newCache(1, argv.window);
const t0 = performance.now();
for (let i = 0; i < argv.tokens; i++) {
  const context = tokens.slice(i, i + argv.window); // the window before token i + window
  await cache.extend(BigInt64Array.from(context.map(BigInt)), context.length, 0); // start 0: no cache, all recomputed
}
const seconds = (performance.now() - t0) / 1000;
console.log(`${model.name} ${model.dtype} (${model.graph}), ${argv.threads} threads: reference algorithm (window ${argv.window} recomputed per token, one row) ${(argv.tokens / seconds).toFixed(2)} tok/s over ${argv.tokens} tokens`);
if (argv.per) {
  const bytes = readFileSync(argv.per);
  let count = 0;
  for (let at = 0; at < bytes.length; at += DEFAULT_BLOCK) count += tokensOfStr(bytes.subarray(at, at + DEFAULT_BLOCK), model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize }).tokenList.length;
  console.log(`${argv.per}: ${bytes.length} bytes, ${count} tokens, ${(bytes.length / count).toFixed(3)} bytes a token`);
}
