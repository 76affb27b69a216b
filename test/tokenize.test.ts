// The UTF-8 splitter, the byte view of the vocabulary and our BPE tokenizer, on their own.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { bytePairTokenizerOf } from '../src/bpe.ts';
import { loadTokenizer, MODELS_DIR } from '../src/model.ts';
import { bytesOfTokens, byteVocabularyOf, crlfOfLf, lfOfCrlf, tokensOfStr, tokensToStr, utf8Runs } from '../src/tokenize.ts';
import { compress, decompress, ok, SCARLET } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isUtf8 = (bytes: Uint8Array) => {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

test('utf8Runs agrees with a strict decoder: valid runs decode, escaped bytes do not start valid text', () => {
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  const pool = [0x41, 0x0a, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f];
  for (let n = 0; n < 3000; n++) {
    const bytes = Uint8Array.from({ length: 1 + (next() % 9) }, () => pool[next() % pool.length]);
    const runs = utf8Runs(bytes);
    assert.deepEqual(runs.flatMap(([a, b]) => [...bytes.subarray(a, b)]), [...bytes], 'runs tile the input');
    for (const [a, b, valid] of runs) if (valid) assert.ok(isUtf8(bytes.subarray(a, b)), `valid run ${a}..${b} of ${[...bytes]}`);
    assert.equal(runs.every(([, , valid]) => valid), isUtf8(bytes), `whole input ${[...bytes]}`);
  }
});

test('our BPE tokenizer gives the ids and text of transformers.js, on real files and crafted edge cases', async () => {
  env.allowRemoteModels = false;
  let seed = 11;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
  // Code points of every kind the pre-tokenizer tells apart: ASCII, Latin, CJK, astral symbols, spaces and line ends.
  const mixed = () => String.fromCodePoint(...Array.from({ length: 2000 }, () => [next() % 128, 0x80 + (next() % 0x700), 0x3000 + (next() % 0x5000), 0x1f300 + (next() % 0x300), 32, 10, 13, 9, 0xa0, 0x2003][next() % 10]));
  const texts = [
    SCARLET.toString('utf8'),
    readFileSync(new URL('../src/container.ts', import.meta.url), 'utf8'),
    readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8').slice(0, 100_000),
    mixed(), mixed(), mixed(),
    "<|endoftext|>a<|endoftext|><|endoftext|> x<|endoftext|",
    `${' '.repeat(20_000)}x${'a'.repeat(5000)}`,
    "I'm ok; they'll've 12345 ٣٤ 𝔘𝔫𝔦 x\r\n\r\n\ty  ",
  ];
  for (const name of ['llmc-tiny', 'llmc-base-v3']) {
    const dir = join(MODELS_DIR, name);
    const reference = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const ours = bytePairTokenizerOf(json, byteVocabularyOf(json)!);
    assert.ok(ours, `${name} is plain byte-level BPE`);
    for (const text of texts) {
      const ids = ours.encode(text, { add_special_tokens: false });
      assert.deepEqual(ids, reference.encode(text, { add_special_tokens: false }), `${name}: ${JSON.stringify(text.slice(0, 30))}`);
      assert.equal(ours.decode(ids), reference.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
    }
  }
  const { vocabulary } = await loadTokenizer('llmc-tiny');
  assert.equal(bytePairTokenizerOf({ normalizer: { type: 'NFC' }, pre_tokenizer: { type: 'ByteLevel' }, model: { type: 'BPE', vocab: {}, merges: [] } }, vocabulary!), undefined, 'a normalizer is left to transformers.js');
});

test('every token of both vocabularies has bytes, and every byte has a token that gives it back', async () => {
  for (const name of ['llmc-tiny', 'llmc-base']) {
    const { vocabulary, vocabSize } = await loadTokenizer(name);
    assert.ok(vocabulary, name);
    for (let id = 0; id < vocabSize; id++) assert.ok(vocabulary.tokenBytes[id]?.length > 0, `${name} token ${id}`);
    for (let b = 0; b < 256; b++) assert.deepEqual([...bytesOfTokens([vocabulary.byteToken[b]], vocabulary)], [b]);
  }
});

test('a whole default block (1 MiB of text, about 400,000 tokens) tokenizes and comes back', async () => {
  const { tokenizer, vocabulary, name, vocabSize } = await loadTokenizer('llmc-tiny');
  const block = Buffer.concat([SCARLET, SCARLET, SCARLET, SCARLET]).subarray(0, 1 << 20);
  const doc = tokensOfStr(block, tokenizer, vocabulary, { modelName: name, vocabSize });
  assert.ok(doc.tokenList.length > 300_000, `${doc.tokenList.length} tokens`);
  assert.deepEqual(Buffer.from(tokensToStr(doc, tokenizer, vocabulary)), block);
});

test('CR LF line ends are coded as LF and given back, only when every line has them', async () => {
  const lf = SCARLET.subarray(0, 4000);
  const crlf = Buffer.from(lf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  assert.deepEqual(lfOfCrlf(crlf), Uint8Array.from(lf));
  assert.deepEqual(crlfOfLf(lf), Uint8Array.from(crlf));
  for (const kept of ['a\nb\r\n', 'no line end', '\r\r\n\n', 'x\r']) assert.equal(lfOfCrlf(Buffer.from(kept)), undefined, JSON.stringify(kept));
  assert.deepEqual(crlfOfLf(lfOfCrlf(Buffer.from('\r\r\na\r\n'))!), Uint8Array.from(Buffer.from('\r\r\na\r\n')));
  const { tokenizer, vocabulary, name, vocabSize } = await loadTokenizer();
  const info = { modelName: name, vocabSize };
  const doc = tokensOfStr(crlf, tokenizer, vocabulary, info);
  assert.equal(doc.lineEnds, 'crlf');
  assert.deepEqual(doc.tokenList, tokensOfStr(lf, tokenizer, vocabulary, info).tokenList, 'the same tokens as the LF text');
  assert.equal(doc.byteLength, crlf.length);
  assert.deepEqual(tokensToStr(doc, tokenizer, vocabulary), Uint8Array.from(crlf));
  assert.equal(tokensOfStr(Buffer.concat([crlf, Buffer.from('\n')]), tokenizer, vocabulary, info).lineEnds, undefined);
});

test('a CR LF text round-trips through llmc and the stages, in about the bytes of its LF text', () => {
  const lf = SCARLET.subarray(0, 4000);
  const crlf = Buffer.from(lf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  // llmc-base, whose frame beats brotli's on this text
  const coded = ok('llmc', ['-q'], crlf);
  const plain = ok('llmc', ['-q'], lf);
  assert.ok(coded.length <= plain.length + 2, `CR LF: ${coded.length} bytes, LF: ${plain.length}`);
  assert.deepEqual(ok('llmc', ['-d', '-q'], coded), crlf);
  assert.deepEqual(decompress(compress(crlf, TINY, ['--coder', 'exact']), TINY), crlf);
});
