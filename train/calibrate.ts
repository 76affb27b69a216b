// Measures the integer model's largest |q|, |k| and |v| per layer (before their static shifts) on corpus text,
// through the plain-TypeScript implementation, for train/integer.py --calibration. The text is the first
// documents of each source (gutenberg, wikipedia, code, debian, npm, tree, ...) met in the first 200 lines of
// the given corpus shards (training data, never evaluation text), cut into windows.
// Usage: node --import tsx train/calibrate.ts MODEL_DIR SHARD.jsonl.zst[,SHARD...] TOKENS > calibration.json
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { IntegerReference } from '../src/integer.ts';
import { loadTokenizer } from '../src/model.ts';

const [dir, shard, count = '3000'] = process.argv.slice(2);
const tokens = Number(count);
const fail = (message: string): never => { process.stderr.write(`calibrate: ${message}\n`); process.exit(1); };
// A shard that is not there would give zero tokens and so shifts of 0, which integer.py cannot build a graph from.
const docs = shard.split(',').map((path) => (existsSync(path) ? path : fail(`${path}: no such shard`))).flatMap((path) =>
  execFileSync('sh', ['-c', `zstd -dc --long=27 '${path}' | head -n 200`], { maxBuffer: 1 << 30 }).toString().split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as { source: string; text: string }));
const { tokenizer } = await loadTokenizer(dir);
const reference = new IntegerReference(dir);
const window = 256;
const sources = [...new Set(docs.map((d) => d.source))];
const perSource = Math.ceil(tokens / sources.length / window);
let done = 0;
for (const source of sources) {
  const picked = docs.filter((d) => d.source === source).slice(0, perSource);
  for (const doc of picked) {
    const ids = tokenizer.encode(doc.text.slice(0, 4 * window * 8), { add_special_tokens: false }).slice(0, window - 1);
    const cache = reference.newCache();
    [0, ...ids].forEach((token, position) => reference.step(token, position, cache));
    done += ids.length;
    process.stderr.write(`\rcalibrate: ${done} tokens`);
  }
}
process.stderr.write('\n');
if (done === 0) fail(`no text in ${shard}`);
console.log(JSON.stringify({ model: dir, shard, tokens: done, layers: reference.extremes }));
