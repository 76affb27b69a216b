// Corpus round trip: every file of a few hundred diverse ones (this repository's sources, text files from
// node_modules, random binary, the evaluation texts) goes through the whole exact-mode pipeline in process
// (tokensOfStr → modelToInx → rangeEncode → binOfRange → binToRange → tokensOfRange → tokensToStr) and must
// come back byte for byte. Prints the count of files and bytes checked, and every failure.
// usage: node --import tsx bench/corpus.ts [--model llmc-tiny] [--max-bytes 16384] [--modules 200] [--random 30]
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT, decodeExact, rankTokens } from '../src/codec.ts';
import { loadModel, loadTokenizer } from '../src/model.ts';
import { binOfRange, binToRange, rangeEncode } from '../src/range.ts';
import { tokensOfStr, tokensToStr } from '../src/tokenize.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-tiny' })
  .option('max-bytes', { type: 'number', default: 16384, describe: 'skip repository and node_modules files larger than this' })
  .option('modules', { type: 'number', default: 200, describe: 'how many node_modules text files (every k-th, in path order)' })
  .option('random', { type: 'number', default: 30, describe: 'how many random binary files' })
  .parse();

function walkFiles(dir: string, keep: (path: string) => boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules') walkFiles(path, keep, out);
    else if (entry.isFile() && keep(path)) out.push(path);
  }
  return out;
}
const small = (path: string) => statSync(path).size <= argv['max-bytes'];
const TEXT = new Set(['.js', '.mjs', '.cjs', '.ts', '.json', '.md', '.txt', '.yml', '.sh', '.py', '.html', '.css', '.map']);

const inputs: [group: string, name: string, bytes: Uint8Array][] = [];
for (const path of walkFiles('.', (p) => small(p) && !/^(models|figures|examples|tmp|work)\//.test(p))) inputs.push(['this repository', path, readFileSync(path)]);
const modules = walkFiles('node_modules', (p) => TEXT.has(extname(p)) && small(p));
const every = Math.max(1, Math.floor(modules.length / argv.modules));
for (let i = 0; i < modules.length; i += every) inputs.push(['node_modules text', relative('.', modules[i]), readFileSync(modules[i])]);
for (let i = 0; i < argv.random; i++) inputs.push(['random binary', `random-${i}`, randomBytes(Math.floor((i / argv.random) ** 2 * 8192))]);
for (const name of readdirSync('../shared/data/texts')) inputs.push(['evaluation texts', name, readFileSync(join('../shared/data/texts', name))]);

const model = await loadModel(argv.model, { threads: 2 });
const { tokenizer, vocabulary } = await loadTokenizer(argv.model);
const layout = { mode: 'exact' as const, contextwindow: model.defaultWindow, ...DEFAULT_LAYOUT };
const groups = new Map<string, { files: number; bytes: number; compressed: number; escaped: number }>();
const failures: string[] = [];
const t0 = performance.now();
for (const [group, name, input] of inputs) {
  try {
    const doc = tokensOfStr(input, tokenizer, vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
    const bin = binOfRange(rangeEncode(await rankTokens(doc, model, layout)));
    const back = tokensToStr(await decodeExact(binToRange(bin), model), tokenizer, vocabulary);
    if (Buffer.compare(Buffer.from(back), Buffer.from(input)) !== 0) throw new Error('output differs');
    const g = groups.get(group) ?? { files: 0, bytes: 0, compressed: 0, escaped: 0 };
    groups.set(group, { files: g.files + 1, bytes: g.bytes + input.length, compressed: g.compressed + bin.length, escaped: g.escaped + (doc.escapedBytes ?? 0) });
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message}`);
  }
}
const seconds = (performance.now() - t0) / 1000;
const total = [...groups.values()].reduce((a, g) => ({ files: a.files + g.files, bytes: a.bytes + g.bytes }), { files: 0, bytes: 0 });
console.log(`${model.name} ${model.dtype}, exact mode: ${total.files} of ${inputs.length} files round-tripped byte for byte, ${total.bytes} bytes, in ${seconds.toFixed(0)} s\n`);
console.log('| files | count | bytes | escaped bytes | .bin bytes |\n|---|---:|---:|---:|---:|');
for (const [group, g] of groups) console.log(`| ${group} | ${g.files} | ${g.bytes} | ${g.escaped} | ${g.compressed} |`);
for (const f of failures) console.log(`FAILED ${f}`);
process.exitCode = failures.length ? 1 : 0;
