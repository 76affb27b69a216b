// What the coders need from one row of logits: a token's rank and probability (rank mode), and the
// model's distribution as integer frequencies (exact mode). Everything is computed in float64 in a fixed
// order, so encoder and decoder, given the same logits, get the same integers.

/** Rank of `token`: how many tokens have a higher logit, or an equal one and a smaller id. */
export function rankOf(logits: Float32Array, token: number): number {
  const target = logits[token];
  let rank = 0;
  for (let j = 0; j < logits.length; j++) {
    const l = logits[j];
    if (l > target || (l === target && j < token)) rank++;
  }
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

/** Softmax probability of `token`. */
export function probabilityOf(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) if (logits[j] > max) max = logits[j];
  let sum = 0;
  for (let j = 0; j < logits.length; j++) sum += Math.exp(logits[j] - max);
  return Math.exp(logits[token] - max) / sum;
}

/**
 * The distribution as integer frequencies summing to 2^precision: every token gets 1 plus its share of
 * the rest, and what rounding leaves goes to the most likely token. That token comes first in the
 * cumulative order (then the others by id), so an all-zero code stream decodes to the model's first choice.
 */
export class Frequencies {
  readonly freqs: Float64Array;
  readonly top: number;
  /** Softmax probabilities, exact in float64 (the integer frequencies are derived from them). */
  readonly probs: Float64Array;

  constructor(logits: Float32Array, precision: number) {
    const n = logits.length;
    const total = 2 ** precision;
    if (total < 2 * n) throw new Error(`precision ${precision} is too small for a vocabulary of ${n}`);
    let max = -Infinity;
    let top = 0;
    for (let j = 0; j < n; j++) {
      if (logits[j] > max) {
        max = logits[j];
        top = j;
      }
    }
    const probs = new Float64Array(n);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += (probs[j] = Math.exp(logits[j] - max));
    for (let j = 0; j < n; j++) probs[j] /= sum;
    const freqs = new Float64Array(n);
    const share = total - n;
    let used = 0;
    for (let j = 0; j < n; j++) used += (freqs[j] = 1 + Math.floor(probs[j] * share));
    freqs[top] += total - used;
    this.freqs = freqs;
    this.top = top;
    this.probs = probs;
  }

  /** [start, frequency] of a token. */
  interval(token: number): [number, number] {
    const { freqs, top } = this;
    if (token === top) return [0, freqs[top]];
    let start = freqs[top];
    for (let j = 0; j < token; j++) start += freqs[j];
    if (token > top) start -= freqs[top];
    return [start, freqs[token]];
  }

  /** The token whose interval holds `cum`, with that interval. */
  find(cum: number): { token: number; start: number; freq: number } {
    const { freqs, top } = this;
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
