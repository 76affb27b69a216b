// When a coder is given up (src/codec.ts projectsAbove). For each FILE=CEILING (CEILING: the bytes of a frame to judge
// cm against, such as the best one llmc had before cm): cm's projection at a quarter of the file by the rate of its
// start and by the rate of the latter half (from cm's stream on the first 1/8 and 1/4 coded alone), then cm in C under
// llmc's ceiling of 1.5 × CEILING: its bytes or "given up", and the seconds it took. With --llmc, each file also goes
// through `llmc -q -v -c` (default model): the frames it got and the wall seconds; and so does the repeated JSON of
// test/llmc.test.ts (400 lines of 7 kinds), on which the rule decides the model's frame.
// usage: node --import tsx bench/giveup.ts [--llmc] FILE=CEILING...
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cmEncode } from '../src/cm.ts';

const args = process.argv.slice(2);
const withLlmc = args.includes('--llmc');
const files = args.filter((a) => a !== '--llmc').map((a) => {
  const [file, ceiling] = a.split('=');
  if (!(Number(ceiling) > 0)) throw new Error('usage: bench/giveup.ts [--llmc] FILE=CEILING...');
  return { file, ceiling: Number(ceiling) };
});

console.log('| file | bytes | CEILING | cm at 1/4, by its start | cm at 1/4, by the latter half | cm under 1.5 × CEILING | cm s |');
console.log('|---|---:|---:|---:|---:|---|---:|');
for (const { file, ceiling } of files) {
  const bytes = readFileSync(file);
  const prefix = (part: number) => cmEncode(bytes.subarray(0, Math.floor(bytes.length * part)), Infinity)!.length;
  const [eighth, quarter] = [prefix(1 / 8), prefix(1 / 4)];
  const t0 = performance.now();
  const stream = cmEncode(bytes, 1.5 * ceiling);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`| ${basename(file)} | ${bytes.length} | ${ceiling} | ${4 * quarter} | ${quarter + 6 * (quarter - eighth)} | ${stream ? `${stream.length} bytes` : 'given up'} | ${seconds.toFixed(2)} |`);
}

if (withLlmc) {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-giveup-'));
  const repeated = join(dir, 'repeated.json');
  writeFileSync(repeated, Array.from({ length: 400 }, (_, i) => `{"id": ${i % 7}, "name": "entry", "tags": ["a", "b"]}\n`).join(''));
  const llmc = [join(import.meta.dirname, '..', 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(import.meta.dirname, '..', 'scripts', 'llmc.ts')];
  console.log('\n| file | llmc -v | wall s |\n|---|---|---:|');
  for (const file of [...files.map((f) => f.file), repeated]) {
    const t0 = performance.now();
    const run = spawnSync(process.execPath, ['--import', llmc[0], llmc[1], '-q', '-v', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const summary = / -> (\d+) bytes .*?, (\d+ frames? \([^)]*\))/.exec(run.stderr);
    if (run.status !== 0 || !summary) throw new Error(`llmc ${file}: ${run.stderr}`);
    console.log(`| ${basename(file)} | ${summary[1]} bytes, ${summary[2]} | ${((performance.now() - t0) / 1000).toFixed(1)} |`);
  }
  rmSync(dir, { recursive: true, force: true });
}
