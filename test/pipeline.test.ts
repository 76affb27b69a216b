// End to end through the stage CLIs as child processes, with the real tiny model: what any bytes become and give
// back, and what a .bin records. The stages one by one, and their refusals, are in stages.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compress, decompress, ok, SCARLET, stage, TEXTS } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const enc = (s: string) => new TextEncoder().encode(s);
const FIXTURES: Record<string, Uint8Array> = {
  TestString: readFileSync(join(TEXTS, 'TestString.txt')),
  'Scarlet 20 KB': SCARLET.subarray(40_000, 60_000),
  'CRLF, BOM, emoji, non-ASCII': enc('\uFEFFLine one\r\nLigne deux: café, naïve, Ærøskøbing\r\n🎉🧪 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — “quotes” 中文 日本語\n\tlone CR\rend'),
  empty: new Uint8Array(0),
};

/** Bytes that are not UTF-8 text, or text the tokenizer meets rarely: each must come back byte for byte. */
const ANY_BYTES: Record<string, Uint8Array> = {
  'invalid UTF-8 (Latin-1, a lone continuation, a surrogate, an overlong, a cut emoji)': Uint8Array.from([
    ...enc('caf'), 0xe9, 0x20, 0x80, 0x20, 0xed, 0xa0, 0x80, 0x20, 0xc0, 0xaf, 0x20, 0xf0, 0x9f, 0x98, 0x0a, ...enc('end'),
  ]),
  'NUL bytes and control characters': Uint8Array.from([0, 0, 65, 0, 1, 2, 3, 27, 127, 10, 0]),
  'random binary (600 bytes)': Uint8Array.from({ length: 600 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 255),
  'lone CR, mixed line endings, BOM': enc('\uFEFFa\rb\r\nc\nd\n\re\r\r\n'),
  '4-byte emoji and astral characters': enc('🎉🧪🦀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🏳️‍🌈 👩🏽‍💻'),
  'a 20,000-byte line': enc('ab '.repeat(6_000) + 'x'.repeat(2_000)),
};

for (const [name, bytes] of Object.entries(ANY_BYTES)) {
  test(`any bytes round-trip, exactly: ${name}`, () => {
    assert.deepEqual(decompress(compress(bytes, TINY, ['--coder', 'exact']), TINY), Buffer.from(bytes));
  });
}

test('bytes outside UTF-8 are escaped as byte tokens, counted in the document, the header and --verbose', () => {
  const bytes = ANY_BYTES['invalid UTF-8 (Latin-1, a lone continuation, a surrogate, an overlong, a cut emoji)'];
  const r = stage('tokensOfStr', [...TINY, '--verbose'], bytes);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.toString()).escapedBytes, 10);
  assert.match(r.stderr, /10 bytes escaped as byte tokens/);
  const ranged = JSON.parse(ok('binToRange', [], compress(bytes, TINY, ['--coder', 'exact'])).toString());
  assert.equal(ranged.escapedBytes, 10);
  for (const text of [FIXTURES['CRLF, BOM, emoji, non-ASCII'], ANY_BYTES['lone CR, mixed line endings, BOM'], SCARLET.subarray(0, 3_000)]) {
    const doc = JSON.parse(ok('tokensOfStr', TINY, text).toString());
    assert.equal(doc.escapedBytes, 0, 'UTF-8 text, BOM included, goes through the tokenizer');
  }
  // modelToInx -s keeps the first tokens, and the bytes it records are theirs, escaped ones included
  const cut = ok('modelToInx', ['--quiet', '--coder', 'exact', '-s', '6'], r.stdout);
  const head = decompress(ok('binOfRange', [], ok('rangeEncode', [], cut)), TINY);
  assert.deepEqual(head, Buffer.from(bytes.subarray(0, head.length)));
  assert.ok(head.includes(0xe9), 'the escaped byte is among the first six tokens');
  const scarlet = JSON.parse(ok('tokensOfStr', TINY, SCARLET.subarray(0, 3_000)).toString());
  assert.ok(scarlet.tokenList.length < 1_500, `${scarlet.tokenList.length} tokens for 3,000 bytes`);
});

test('an integer file names its arithmetic and nothing of the machine; a float one names the runtime, which a decoder checks', () => {
  const integer = JSON.parse(ok('binToRange', [], compress(FIXTURES.TestString, TINY, ['--coder', 'exact'])).toString());
  assert.deepEqual([integer.graph, integer.arithmetic, integer.runtime], ['integer', 'integer-1', '']);
  const elsewhere = stage('tokensOfRange', ['--quiet', ...TINY], JSON.stringify({ ...integer, runtime: 'onnxruntime-node 0.0.1 cpu x64-avx512_vnni' }));
  assert.equal(elsewhere.stderr, '', 'integer arithmetic does not depend on the runtime');
  assert.deepEqual(ok('tokensToStr', TINY, elsewhere.stdout), FIXTURES.TestString);
  const future = stage('tokensOfRange', ['--quiet', ...TINY], JSON.stringify({ ...integer, arithmetic: 'integer-2' }));
  assert.equal(future.status, 1);
  assert.match(future.stderr, /^tokensOfRange: wrong model: the input was coded in integer-2 arithmetic, this graph of llmc-tiny computes in integer-1\n$/);

  const float = JSON.parse(ok('binToRange', [], compress(FIXTURES.TestString, TINY, ['--coder', 'exact', '--graph', 'stepper'])).toString());
  assert.deepEqual([float.graph, float.arithmetic], ['stepper', 'float']);
  assert.match(float.runtime, /^onnxruntime-node \d+\.\d+\.\d+ cpu \S+$/);
  assert.equal(stage('tokensOfRange', ['--quiet', ...TINY], JSON.stringify(float)).stderr, '');
  const other = stage('tokensOfRange', ['--quiet', ...TINY], JSON.stringify({ ...float, runtime: 'onnxruntime-node 0.0.1 cpu x64-avx512_vnni' }));
  assert.equal(other.status, 0);
  assert.match(other.stderr, /^warning: coded with onnxruntime-node 0\.0\.1 cpu x64-avx512_vnni, decoding with /);
  assert.deepEqual(ok('tokensToStr', TINY, other.stdout), FIXTURES.TestString);
});

for (const coder of ['rank', 'exact']) {
  for (const [name, bytes] of Object.entries(FIXTURES)) {
    test(`${coder} mode round-trips ${name} through the eight CLIs`, () => {
      // The Scarlet slice takes several segments in batches, exercising the batched schedule and the window rule.
      const bin = compress(bytes, TINY, ['--coder', coder, '--segment', '700', '--batch', '3', '-w', '200']);
      assert.deepEqual(decompress(bin, TINY), Buffer.from(bytes));
    });
  }
}

test('batched and unbatched exact coding each round-trip, and segments cost little (within 6% on 6 KB)', () => {
  const text = SCARLET.subarray(100_000, 106_000);
  const one = compress(text, TINY, ['--coder', 'exact', '--segment', '0', '--batch', '1']);
  const many = compress(text, TINY, ['--coder', 'exact', '--segment', '256', '--batch', '8']);
  assert.deepEqual(decompress(one, TINY), text);
  assert.deepEqual(decompress(many, TINY), text);
  assert.ok(Math.abs(many.length - one.length) / one.length < 0.06, `${many.length} vs ${one.length}`);
});

test('the coder graph (a GPU\'s, here on the CPU) round-trips with one rANS lane per row, and its .bin says so', () => {
  const text = SCARLET.subarray(100_000, 106_000);
  const layout = ['--coder', 'exact', '--segment', '256', '--batch', '8'];
  const inGraph = compress(text, TINY, [...layout, '--graph', 'coder']);
  const header = JSON.parse(ok('binToRange', [], inGraph).toString());
  assert.equal(header.graph, 'coder');
  assert.equal(header.lanes, 8);
  assert.deepEqual(decompress(inGraph, TINY), text); // the decoder takes the graph the header names
  const onCpu = compress(text, TINY, [...layout, '--mixer', 'none']); // the coder graph does not mix
  // The same model: it costs at most 1% plus the lanes' final states (≤ 6 bytes each) and two header fields.
  assert.ok(Math.abs(inGraph.length - onCpu.length) < 0.01 * onCpu.length + 6 * 8 + 32, `${inGraph.length} vs ${onCpu.length}`);
  const rank = stage('modelToInx', ['--quiet', '--graph', 'coder', '--coder', 'rank'], ok('tokensOfStr', TINY, text));
  assert.equal(rank.status, 1);
  assert.match(rank.stderr, /^modelToInx: rank mode decodes from the logits, which the coder graph does not give/);
});

test('under a batch above 64, more than 64 segments get a rANS lane a row and decode; 64 or fewer are coded as under batch 64', () => {
  const layout = ['--coder', 'exact', '--segment', '12'];
  const many = SCARLET.subarray(120_000, 124_000);
  const wide = compress(many, TINY, [...layout, '--batch', '256']);
  const header = JSON.parse(ok('binToRange', [], wide).toString());
  const segments = Math.ceil(header.length / 12);
  assert.ok(segments > 64 && segments < 256, `${segments} segments`);
  assert.deepEqual([header.batch, header.lanes], [256, segments]);
  assert.deepEqual(decompress(wide, TINY), many);
  // one group under either batch: the same steps, lanes and mixing, so the same bytes (a solo record's layout)
  const few = SCARLET.subarray(130_000, 131_500);
  assert.deepEqual(compress(few, TINY, [...layout, '--batch', '256']), compress(few, TINY, [...layout, '--batch', '64']));
});

test('the .bin is deterministic across runs and thread counts', () => {
  const text = SCARLET.subarray(5_000, 8_000);
  const a = compress(text, TINY, ['--coder', 'exact', '-l', '1']);
  const b = compress(text, TINY, ['--coder', 'exact', '-l', '2']);
  assert.deepEqual(a, b);
  assert.deepEqual(decompress(a, TINY, ['-l', '2']), text);
});

test('a .bin refuses to decode with another model', () => {
  const bin = compress(FIXTURES.TestString, TINY, ['--coder', 'exact']);
  const ranged = ok('binToRange', [], bin);
  const r = stage('tokensOfRange', ['--quiet', '-n', 'llmc-base'], ranged);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tokensOfRange: wrong model/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a damaged stream is refused, never decoded into wrong text', () => {
  const bin = compress(SCARLET.subarray(0, 2_000), TINY, ['--coder', 'exact']);
  const ranged = JSON.parse(ok('binToRange', [], bin).toString());
  ranged.compressed[10] ^= 0x40; // past the container's checksum: only the coder and the final hash can notice
  const r = stage('tokensOfRange', ['--quiet', ...TINY], JSON.stringify(ranged));
  if (r.status === 0) {
    const text = stage('tokensToStr', TINY, r.stdout);
    assert.equal(text.status, 1);
    assert.match(text.stderr, /does not match the original/);
  } else {
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
