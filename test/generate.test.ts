// examples/generate/run.sh takes its bytes from a file or from a pipe alike (tokensOfData reading stdin: pipeline.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const BYTES = Buffer.from('c0ffee00123456789abcdef0feedface', 'hex');

/** examples/generate/run.sh with the tiny model; stdin is a pipe holding `stdin`, never a terminal. */
function generate(args: string[], stdin: Uint8Array | string = '') {
  const r = spawnSync('bash', [join(ROOT, 'examples', 'generate', 'run.sh'), ...TINY, ...args], { input: stdin, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('examples/generate/run.sh: bytes piped in give what the same bytes in a file give; nothing piped in, the 64 zero bytes', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bytes'), BYTES);
  writeFileSync(join(dir, 'zeros'), Buffer.alloc(64));
  const fromFile = generate([join(dir, 'bytes')]);
  assert.match(fromFile, /^It was a dark and stormy night;./s);
  assert.equal(generate([], BYTES), fromFile);
  const greedy = generate([]);
  assert.equal(greedy, generate([join(dir, 'zeros')]));
  assert.notEqual(greedy, fromFile, 'the bytes make no difference: the test proves nothing');
});
