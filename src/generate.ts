// Text from "correction bytes": the decoder run on data that no encoder made. In rank mode each byte
// gives two ranks (low nibble, then high nibble), as in the reference; in exact mode every token reads
// `precision` bits of the data as a uniform number and takes the token whose interval holds it, which
// samples from the model. Zero bytes mean the first choice every time, in both modes.
import type { RangedDoc, TokensDoc } from './ir.ts';
import type { LanguageModel } from './model.ts';
import { DEFAULT_LAYOUT } from './codec.ts';

function common(model: LanguageModel, comment: string) {
  return {
    modelName: model.name,
    vocabSize: model.vocabSize,
    comment,
    modelFingerprint: Buffer.from(model.fingerprint).toString('hex'),
    byteLength: 0,
    sha256: '', // generated: no original to check against
    contextwindow: model.defaultWindow,
    topN: 16,
    segmentLength: 0,
    batch: 1,
    precision: DEFAULT_LAYOUT.precision,
    dtype: model.dtype,
    graph: model.graphKind,
    arithmetic: model.arithmetic,
  };
}

/** Rank mode (for modelOfInx): the prompt's tokens, then two ranks per byte. */
export function rankGeneration(model: LanguageModel, prompt: string, data: Uint8Array): TokensDoc {
  const promptTokens = model.tokenizer.encode(prompt, { add_special_tokens: false });
  return {
    format: 'llmc-tokens',
    ...common(model, prompt),
    mode: 'rank',
    tokenList: [
      ...promptTokens.map((t): [number, number, number] => [t, -1, 0]),
      ...Array.from(data).flatMap((b): [number, number, number][] => [[0, b & 15, 0], [0, b >> 4, 0]]),
    ],
  };
}

/** Exact mode (for tokensOfRange): `count` tokens sampled with the bytes as the source of randomness. */
export function exactGeneration(model: LanguageModel, prompt: string, data: Uint8Array, count: number): RangedDoc {
  const words: number[] = [];
  for (let i = 0; i < data.length; i += 2) words.push(data[i] << 8 | (data[i + 1] ?? 0));
  return {
    format: 'llmc-ranged',
    ...common(model, prompt),
    mode: 'exact',
    length: count,
    inxToSym: [],
    counts: [],
    compressed: words,
    prompt: model.tokenizer.encode(prompt, { add_special_tokens: false }),
    sampling: true,
  };
}
