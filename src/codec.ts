// The model stages: rank or exact-code tokens with a model (encoder side), and turn ranks or a code
// stream back into tokens (decoder side). Both sides walk the tokens in the same schedule of segments
// and batched steps, feeding the model identical tensors, so they see identical logits.
import { RansDecoder } from './ans.ts';
import { UserError } from './cli.ts';
import type { Layout, RangedDoc, TokenTriple, TokensDoc } from './ir.ts';
import { type LanguageModel, runtimeOf, Stepper } from './model.ts';
import { Frequencies, rankOf, tokenAtRank } from './ranks.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** One group of segments stepped together: each row's first position and length. */
export interface Group {
  starts: number[];
  lengths: number[];
}

/** Splits `count` tokens into segments of `segmentLength` (0: one segment) and those into groups of `batch` rows. */
export function schedule(count: number, segmentLength: number, batch: number): Group[] {
  const length = segmentLength > 0 ? segmentLength : Math.max(count, 1);
  const segments: number[] = [];
  for (let start = 0; start < count; start += length) segments.push(start);
  const groups: Group[] = [];
  for (let g = 0; g < segments.length; g += Math.max(1, batch)) {
    const starts = segments.slice(g, g + Math.max(1, batch));
    groups.push({ starts, lengths: starts.map((s) => Math.min(length, count - s)) });
  }
  return groups;
}

/** The order in which the model visits positions: step by step, row by row within each group. */
export function visitOrder(count: number, segmentLength: number, batch: number): number[] {
  const order: number[] = [];
  for (const { starts, lengths } of schedule(count, segmentLength, batch)) {
    const steps = Math.max(...lengths);
    for (let j = 0; j < steps; j++) starts.forEach((s, r) => j < lengths[r] && order.push(s + j));
  }
  return order;
}

export type Progress = (done: number, total: number) => void;

/**
 * Drives the model over `count` positions. At each position, `visit` gets the logits and probabilities
 * predicting it and returns the token that stands there (known to the encoder, decoded by the decoder).
 */
export async function walk(
  model: LanguageModel,
  count: number,
  layout: Pick<Layout, 'segmentLength' | 'batch' | 'contextwindow'>,
  visit: (logits: Float32Array, probs: Float32Array, position: number) => number,
  progress?: Progress,
  prefix: number[] = [],
): Promise<void> {
  const vocab = model.vocabSize;
  let done = 0;
  for (const { starts, lengths } of schedule(count, layout.segmentLength, layout.batch)) {
    const stepper = new Stepper(model, starts.length, layout.contextwindow);
    let fed: number[] = starts.map(() => model.bos);
    for (const token of prefix) {
      await stepper.step(fed);
      fed = starts.map(() => token);
    }
    const steps = Math.max(...lengths);
    for (let j = 0; j < steps; j++) {
      const { logits, probs } = await stepper.step(fed);
      const row = (data: Float32Array, r: number) => data.subarray(r * vocab, (r + 1) * vocab);
      fed = starts.map((s, r) => (j < lengths[r] ? visit(row(logits, r), row(probs, r), s + j) : model.bos));
      done += starts.filter((_, r) => j < lengths[r]).length;
      progress?.(done, count);
    }
  }
}

function checkModel(doc: { vocabSize: number; modelFingerprint: string; modelName: string; dtype?: string; runtime?: string }, model: LanguageModel): void {
  if (doc.vocabSize !== model.vocabSize) {
    throw new UserError(`wrong model: the input was made for ${doc.modelName} (vocabulary ${doc.vocabSize}), this is ${model.name} (vocabulary ${model.vocabSize})`);
  }
  if (doc.modelFingerprint && doc.modelFingerprint !== hex(model.fingerprint)) {
    throw new UserError(`wrong model: the input was coded with ${doc.modelName} ${doc.dtype ?? ''} (fingerprint ${doc.modelFingerprint.slice(0, 12)}…), this is ${model.name} ${model.dtype} (${hex(model.fingerprint).slice(0, 12)}…)`);
  }
  const runtime = runtimeOf(model.device);
  if (doc.runtime && doc.runtime !== runtime) {
    // Other kernels may round differently; the hash check after decoding says whether it mattered.
    process.stderr.write(`warning: coded with ${doc.runtime}, decoding with ${runtime}: if the output fails its check, decode on the coding runtime\n`);
  }
}

/** modelToInx: ranks every token (rank mode) or gives it its exact interval (exact mode). */
export async function rankTokens(doc: TokensDoc, model: LanguageModel, layout: Omit<Layout, 'dtype'>, progress?: Progress): Promise<TokensDoc> {
  checkModel({ ...doc, modelFingerprint: '' }, model);
  const tokens = doc.tokenList.map((t) => t[0]);
  const tokenList: TokenTriple[] = new Array(tokens.length);
  const intervals: [number, number][] | undefined = layout.mode === 'exact' ? new Array(tokens.length) : undefined;
  const freqs = new Frequencies(model.vocabSize, layout.precision);
  await walk(model, tokens.length, layout, (logits, probs, pos) => {
    const token = tokens[pos];
    const rank = rankOf(logits, token);
    if (intervals) intervals[pos] = freqs.load(probs).interval(token);
    tokenList[pos] = intervals || rank < layout.topN ? [token, rank, probs[token]] : [token, -1, probs[token]];
    return token;
  }, progress);
  return {
    ...doc,
    modelName: model.name,
    modelFingerprint: hex(model.fingerprint),
    runtime: runtimeOf(model.device),
    ...layout,
    dtype: model.dtype,
    tokenList,
    ...(intervals ? { intervals } : {}),
  };
}

/** modelOfInx: puts back the token at each rank (misses carry their token). Also runs generation. */
export async function unrankTokens(doc: TokensDoc & Layout, model: LanguageModel, progress?: Progress): Promise<TokensDoc> {
  checkModel(doc, model);
  if (doc.mode !== 'rank') throw new UserError('modelOfInx decodes rank-mode documents; exact-mode streams are decoded by tokensOfRange');
  const tokenList = doc.tokenList.map((t) => [...t] as TokenTriple);
  await walk(model, tokenList.length, doc, (logits, probs, pos) => {
    const entry = tokenList[pos];
    if (entry[1] >= 0) {
      if (entry[1] >= model.vocabSize) throw new UserError(`rank ${entry[1]} at token ${pos} is outside the vocabulary`);
      entry[0] = tokenAtRank(logits, entry[1]);
    }
    entry[2] = probs[entry[0]];
    return entry[0];
  }, progress);
  return { ...doc, tokenList };
}

/**
 * Generation's source of choices: `bits` at a time from the data as a number in [0, 2^bits), zeros past the
 * end. Taking the token whose interval holds it samples from the model (inverse CDF); zeros give the first choice.
 */
class UniformReader {
  private bit = 0;
  constructor(private readonly words: number[], private readonly bits: number) {}
  next(): number {
    let value = 0;
    for (let i = 0; i < this.bits; i++, this.bit++) {
      const word = this.words[this.bit >> 4] ?? 0;
      value = value * 2 + ((word >> (15 - (this.bit & 15))) & 1);
    }
    return value;
  }
}

/** tokensOfRange: decodes an exact-mode stream, running the model and the rANS decoder together. */
export async function decodeExact(doc: RangedDoc, model: LanguageModel, progress?: Progress): Promise<TokensDoc> {
  checkModel(doc, model);
  if (doc.mode !== 'exact') throw new UserError('tokensOfRange decodes exact-mode streams; rank-mode streams go through rangeDecode and modelOfInx');
  const tokenList: TokenTriple[] = new Array(doc.length);
  const prompt = doc.prompt ?? [];
  try {
    const words = Uint16Array.from(doc.compressed);
    const decoder = doc.sampling ? undefined : new RansDecoder(words, doc.precision);
    const uniform = new UniformReader(doc.compressed, doc.precision);
    const freqs = new Frequencies(model.vocabSize, doc.precision);
    await walk(model, doc.length, doc, (logits, probs, pos) => {
      const { token, start, freq } = freqs.load(probs).find(decoder ? decoder.peek() : uniform.next());
      decoder?.advance(start, freq);
      tokenList[pos] = [token, rankOf(logits, token), probs[token]];
      return token;
    }, progress, prompt);
    decoder?.finish();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError((err as Error).message);
  }
  const { inxToSym, counts, compressed, length, sampling, prompt: _, ...rest } = doc;
  return { ...rest, format: 'llmc-tokens', tokenList: [...prompt.map((t): TokenTriple => [t, -1, 0]), ...tokenList] };
}

/** Defaults of the coding layout (BENCHMARKS.md shows how they were chosen). */
export const DEFAULT_LAYOUT = { topN: 128, precision: 24, segmentLength: 2048, batch: 64 };
