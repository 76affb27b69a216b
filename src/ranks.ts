// What the coders need from one row of the model's output: a token's rank among the logits (rank mode), and
// the distribution as integer frequencies (exact mode). Where the native addon is (src/native.ts) its C twins
// (native/ranks.c) do the passes over the vocabulary, with the same numbers; LLMC_ENGINE=onnx keeps them here.
import { type TokenBias, weighEntries } from './bias.ts';
import { mixedOf, modelInput } from './mixer.ts';
import { ANSWER, ASK, PAIR_ENTRIES, type NativeAddon, nativeEngine } from './native.ts';

let rows: NativeAddon | undefined | null = null;

/** The addon's row arithmetic, or undefined (none here, or LLMC_ENGINE=onnx): asked once, not a token. */
export function nativeRows(): NativeAddon | undefined {
  if (rows === null) rows = nativeEngine();
  return rows;
}

/** Rank of `token`: how many tokens have a higher logit, or an equal one and a smaller id. */
export function rankOf(logits: Float32Array, token: number, native = nativeRows()): number {
  if (native) return native.rank(logits, token);
  const target = logits[token];
  let rank = 0;
  for (let j = 0; j < logits.length; j++) rank += +(logits[j] > target); // no branch: half the comparisons go each way
  for (let j = 0; j < token; j++) rank += +(logits[j] === target);
  return rank;
}

/** The token at `rank` in the order of rankOf (keeps the best rank+1 candidates, sorted). */
export function tokenAtRank(logits: Float32Array, rank: number): number {
  if (rank >= logits.length) throw new Error(`rank ${rank} is outside the vocabulary of ${logits.length}`);
  const keep = rank + 1;
  const ids: number[] = [];
  const before = (a: number, b: number) => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);
  for (let j = 0; j < logits.length; j++) {
    if (ids.length === keep && !before(j, ids[keep - 1])) continue;
    let i = ids.length === keep ? keep - 1 : ids.length;
    while (i > 0 && before(j, ids[i - 1])) {
      ids[i] = ids[i - 1];
      i--;
    }
    ids[i] = j;
  }
  return ids[rank];
}

/**
 * The model's distribution over one row, as integer frequencies summing to 2^precision: every token gets 1 plus
 * its share of the rest, floor(p · (2^precision − vocab)), and what rounding leaves goes to the most likely token,
 * which comes first in the cumulative order (then the others by id), so an all-zero code stream decodes to the
 * model's first choice. p comes from the graph: the integer graph's weights (docs/INTEGER.md), or a float graph's
 * softmax, renormalized in float64 so the shares can never exceed the rest. The arithmetic is a fixed sequence of float64 operations, so encoder and decoder,
 * given the same probabilities, get the same integers. One instance is reused row after row.
 */
export class Frequencies {
  readonly freqs: Int32Array;
  top = 0;
  private readonly start = new Float64Array(1);

  /** native: the addon's twins of these passes (default: where there is one), or undefined for TypeScript's. */
  constructor(
    readonly vocab: number,
    readonly precision: number,
    readonly native = nativeRows(),
  ) {
    if (2 ** precision < 2 * vocab) throw new Error(`precision ${precision} is too small for a vocabulary of ${vocab}`);
    this.freqs = new Int32Array(vocab);
  }

  /** Takes a row of probabilities, or of integer weights proportional to them, and computes its frequencies. */
  load(probs: ArrayLike<number>): this {
    const { vocab, freqs } = this;
    if (this.native && probs instanceof Int32Array && probs.length === vocab) {
      const top = this.native.frequencies(probs, freqs, this.precision);
      if (top >= 0) {
        this.top = top;
        return this;
      }
    }
    const total = 2 ** this.precision;
    let max = -1;
    let top = 0;
    let sum = 0;
    for (let j = 0; j < vocab; j++) {
      const p = probs[j];
      sum += p;
      if (p > max) {
        max = p;
        top = j;
      }
    }
    const scale = (total - vocab) / sum;
    let used = 0;
    for (let j = 0; j < vocab; j++) used += freqs[j] = 1 + Math.floor(probs[j] * scale);
    freqs[top] += total - used;
    this.top = top;
    return this;
  }

/** [start, frequency] of a token. */
  interval(token: number): [number, number] {
    const { freqs, top } = this;
    if (this.native) return [this.native.start(freqs, top, token), freqs[token]];
    if (token === top) return [0, freqs[top]];
    let start = freqs[top];
    for (let j = 0; j < token; j++) start += freqs[j];
    if (token > top) start -= freqs[top];
    return [start, freqs[token]];
  }

  /**
   * The mixer's share (docs/MIXER.md): gives `token` at least `share` of the total and every other token 1 plus its
   * part of what is left above 1s, in proportion to what it had above 1; what flooring leaves goes to `token`. No
   * token falls below 1.
   */
  share(token: number, share: number): void {
    const { freqs: f } = this;
    const total = 2 ** this.precision;
    if (this.native) return this.native.share(f, token, share, total);
    const others = f.length - 1;
    const budget = Math.max(others, total - share) - others;
    const above = total - f[token] - others;
    if (above <= 0) return;
    let used = 0;
    for (let j = 0; j < f.length; j++) {
      if (j === token) continue;
      // Exact: the product is below 2^48 and the quotient below 2^24, so float64 division floors as integers would.
      used += f[j] = 1 + Math.floor(((f[j] - 1) * budget) / above);
    }
    f[token] = total - used;
  }

  /** The token whose interval holds `cum`, with that interval. */
  find(cum: number): { token: number; start: number; freq: number } {
    const { freqs, top } = this;
    if (this.native) {
      const token = this.native.find(freqs, top, cum, this.start);
      if (token < 0) throw new Error(`cumulative value ${cum} is outside 2^precision`);
      return { token, start: this.start[0], freq: freqs[token] };
    }
    if (cum < freqs[top]) return { token: top, start: 0, freq: freqs[top] };
    let start = freqs[top];
    for (let j = 0; j < freqs.length; j++) {
      if (j === top) continue;
      if (cum < start + freqs[j]) return { token: j, start, freq: freqs[j] };
      start += freqs[j];
    }
    throw new Error(`cumulative value ${cum} is outside 2^precision`);
  }
}

/**
 * The CPU twin of the GPU's coder (native/cuda.cu, kernels `code` and `bias_learn`), step for step: for `count`
 * predictions (the rows stride · b + offset of `weights` and `logits`), each with its question (ASK numbers: the token
 * or the decoder's value, the mixer's candidate, x1, x2, the candidate's two weight sets, and the slot of its token
 * bias in `biases`, -1: none), the answer (ANSWER numbers: the token, its interval, its rank, x0, whether the candidate
 * is the model's first choice, the mixed probability). Each bias learns its rows, and applies it after the last: the
 * rows are one step. The GPU's walk runs on it where there is no GPU, which is how the tests check that walk.
 */
export function codeRows(weights: Int32Array, logits: Float32Array, vocab: number, asks: Int32Array, count: number, stride: number, offset: number, decoding: boolean, precision: number, answers: Int32Array, biases: readonly TokenBias[] = []): void {
  const freqs = new Frequencies(vocab, precision);
  for (let b = 0; b < count; b++) {
    const p = b * stride + offset, a = b * ASK, o = b * ANSWER;
    const candidate = asks[a + 1], slot = asks[a + 12], entries = asks[a + 13];
    const entryTokens = asks.subarray(a + 14, a + 14 + entries), entryValues = asks.subarray(a + 14 + PAIR_ENTRIES, a + 14 + PAIR_ENTRIES + entries);
    let token = asks[a], start: number;
    if (token < 0 || token >= (decoding ? 2 ** precision : vocab) || candidate >= vocab || slot < -1 || slot >= biases.length) throw new Error('code: a question outside the vocabulary, the precision or the biases');
    if (entries < 0 || entries > PAIR_ENTRIES || (entries > 0 && slot < 0) || entryTokens.some((j) => j < 0 || j >= vocab) || entryValues.some((c) => Math.abs(c) > 1 << 22)) throw new Error('code: entries of a previous token outside the vocabulary or ±4 nats, or without a token bias');
    const row = weights.subarray(p * vocab, (p + 1) * vocab);
    const weighed = slot >= 0 ? biases[slot].weigh(row) : row;
    if (entries > 0) weighEntries(weighed, row, biases[slot].values, entries, asks, a + 14, asks, a + 14 + PAIR_ENTRIES);
    freqs.load(weighed);
    let x0 = 0, first = 0, mixed = 0;
    if (candidate >= 0) {
      x0 = modelInput(freqs.freqs[candidate], precision);
      first = candidate === freqs.top ? 1 : 0;
      mixed = mixedOf(asks, a + 4 + 4 * first, x0, asks[a + 2], asks[a + 3]);
      freqs.share(candidate, mixed * 2 ** (precision - 16));
    }
    if (decoding) ({ token, start } = freqs.find(asks[a]));
    else [start] = freqs.interval(token);
    if (slot >= 0) biases[slot].learn(freqs.freqs, precision, token);
    answers.set([token, start, freqs.freqs[token], rankOf(logits.subarray(p * vocab, (p + 1) * vocab), token, freqs.native), x0, first, mixed], o);
    for (let i = 0; i < entries; i++) answers[o + 7 + i] = freqs.freqs[entryTokens[i]];
  }
  for (const bias of biases) bias.settle();
}
