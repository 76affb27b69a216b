// The stage CLIs one by one, as child processes with the real tiny model: generation, and how each refuses bad input.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel, Stepper } from '../src/model.ts';
import { compress, ok, ROOT, stage, tempDir, TEXTS } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const enc = (s: string) => new TextEncoder().encode(s);

test('generation from zero bytes is greedy decoding, in rank and in exact mode', async () => {
  const model = await loadModel('llmc-tiny', { threads: 1 });
  const tokens = model.tokenizer.encode('It was', { add_special_tokens: false });
  const stepper = new Stepper(model, 1, model.defaultWindow);
  let logits: Float32Array<ArrayBufferLike> = new Float32Array();
  for (const token of [model.bos, ...tokens.slice(0, -1)]) logits = (await stepper.step([token])).logits!;
  for (let fed = tokens.at(-1)!, i = 0; i < 24; i++) {
    logits = (await stepper.step([fed])).logits!;
    fed = logits.indexOf(Math.max(...logits));
    tokens.push(fed);
  }
  const greedy = model.tokenizer.decode(tokens);
  const zeros = new Uint8Array(12);
  const rank = ok('tokensToStr', TINY, ok('modelOfInx', ['--quiet', ...TINY], ok('tokensOfData', [...TINY, '-c', 'It was'], zeros)));
  const exact = ok('tokensToStr', TINY, ok('tokensOfRange', ['--quiet', ...TINY], ok('tokensOfData', [...TINY, '-c', 'It was', '--coder', 'exact', '-s', '24'], zeros)));
  assert.equal(rank.toString(), greedy);
  assert.equal(exact.toString(), greedy);
});

test('generation from random bytes differs from greedy and is reproducible', () => {
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => (i * 73 + 41) & 255);
  const gen = (data: Uint8Array) => ok('tokensToStr', TINY, ok('tokensOfRange', ['--quiet', ...TINY], ok('tokensOfData', [...TINY, '-c', 'The', '--coder', 'exact'], data))).toString();
  const sampled = gen(bytes);
  assert.equal(gen(bytes), sampled);
  assert.notEqual(gen(new Uint8Array(16)), sampled);
});

const MALFORMED: Record<string, Uint8Array | string> = {
  'empty input': '',
  'text that is not JSON': 'hello world',
  'truncated JSON': '{"format": "llmc-tokens", "tokenList": [[1,',
  'JSON of another kind': '[1, 2, 3]',
};
for (const name of ['modelToInx', 'rangeEncode', 'binOfRange', 'rangeDecode', 'tokensOfRange', 'modelOfInx', 'tokensToStr']) {
  test(`${name} rejects malformed input with one line and exit 1`, () => {
    for (const [what, input] of Object.entries(MALFORMED)) {
      const r = stage(name, [], input);
      assert.equal(r.status, 1, `${name} on ${what}: exit ${r.status}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name} on ${what}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^${name}: `));
    }
  });
}

test('a JSON stage fed the wrong kind of document says what it expected', () => {
  const toks = ok('tokensOfStr', TINY, 'abc');
  const r = stage('binOfRange', [], toks);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /expected a ranged document/);
});

test('binToRange refuses files that are not ours, truncated or flipped', () => {
  const bin = compress(readFileSync(join(TEXTS, 'TestString.txt')), TINY, ['--coder', 'rank']);
  for (const [what, bytes, pattern] of [
    ['garbage', enc('definitely not a .bin file'), /not an llm-compression/],
    ['truncated', bin.subarray(0, bin.length - 7), /truncated|corrupt/],
    ['flipped', Buffer.concat([bin.subarray(0, 40), Buffer.from([bin[40] ^ 4]), bin.subarray(41)]), /corrupt|truncated/],
    ['empty', new Uint8Array(0), /empty/],
  ] as const) {
    const r = stage('binToRange', [], bytes);
    assert.equal(r.status, 1, what);
    assert.match(r.stderr, pattern, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, what);
  }
});

test('tokensOfStr refuses unreadable files in one line', () => {
  const missing = stage('tokensOfStr', [...TINY, '-i', '/nonexistent/file.txt']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read \/nonexistent\/file.txt: ENOENT/);
});

test('a failing stage leaves no output file behind and never overwrites its input', (t) => {
  const dir = tempDir(t);
  const input = join(dir, 'in.json');
  writeFileSync(input, 'not json');
  const r = stage('rangeEncode', ['-i', input, '-o', join(dir, 'out.json')]);
  assert.equal(r.status, 1);
  assert.deepEqual(readdirSync(dir), ['in.json']);
  const same = stage('tokensOfStr', [...TINY, '-i', input, '-o', input]);
  assert.equal(same.status, 1);
  assert.match(same.stderr, /refusing to overwrite the input/);
  assert.equal(readFileSync(input, 'utf8'), 'not json');
  assert.ok(!existsSync(join(dir, 'out.json')));
});

test('a stage refuses an output in a folder that does not exist before it reads its input', (t) => {
  const dir = tempDir(t);
  const input = join(dir, 'in.json');
  writeFileSync(input, 'not json');
  // the input's error would come first were the output's folder checked only when the stage writes
  const r = stage('rangeEncode', ['-i', input, '-o', join(dir, 'no-such-folder', 'out.json')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^rangeEncode: cannot write .*no-such-folder\/out\.json: .*no-such-folder is not a folder\n$/);
  // dirOfXml's -o is a folder it creates, parents and all
  const xml = stage('xmlOfDir', [join(ROOT, 'docs')]);
  assert.equal(xml.status, 0, xml.stderr);
  writeFileSync(join(dir, 'docs.xml'), xml.stdout);
  const back = stage('dirOfXml', ['-i', join(dir, 'docs.xml'), '-o', join(dir, 'a', 'b')]);
  assert.equal(back.status, 0, back.stderr);
  assert.ok(existsSync(join(dir, 'a', 'b', 'FORMAT.md')));
});

test('binOfBytes stores bytes in a frame that bytesOfBin gives back and binToRange refuses', () => {
  const binary = Uint8Array.from({ length: 600 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 255);
  const stored = stage('binOfBytes', [], binary);
  assert.deepEqual(ok('bytesOfBin', [], stored.stdout), Buffer.from(binary));
  const refused = stage('binToRange', [], stored.stdout);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /is a stored frame \(the model did not help\): bytesOfBin gives its bytes back/);
});
