// The per-token bias of mixer version 4 (docs/MIXER.md, "The token bias"): what the model keeps missing in this
// file, learned as the file goes. Each token j has a bias b_j in nats; the model's weights become w_j · e^(b_j)
// before they become frequencies, and after each token t, b moves along the gradient of its log-loss, η(onehot_t − p),
// with p the frequencies the token was coded with. Integer arithmetic throughout (b in 2^-20 nat, the exponential a
// table built by integer steps), so every machine computes the same frequencies; like the mixer's version 3, what a
// step learns is applied when the next step begins.
import { PAIR_ENTRIES, type NativeAddon, nativeEngine } from './native.ts';

/** b's unit: 2^-20 nat. A row's multiplier is looked up by b in 1/256 nat (b >> 12). */
const FRACTION = 20;
const INDEX_SHIFT = FRACTION - 8;
/** b stays within ±4 nats (±1024 in 1/256 nat). */
const BOUND = 1024;
const B_MAX = BOUND << INDEX_SHIFT;
/** A multiplier's 1: b = 0 leaves a weight as it is. */
const ONE = 1 << 15;

/**
 * MULTIPLIER[k + BOUND] = 2^15 · e^(k/256) for k in −BOUND..BOUND, built from 2^15 at k = 0 by integer steps of
 * e^(±1/256) in 2^-30 (so no exp, and the same integers everywhere). A biased weight is floor(w · M / 2^15): a weight
 * of the integer graph (at most 2^24) stays below 2^24 · e^4 < 2^31.
 */
const DOWN = 1069555701n; // round(2^30 · e^(−1/256))
const UP = 1077944331n; // round(2^30 · e^(1/256))
export const MULTIPLIER = (() => {
  const table = new Int32Array(2 * BOUND + 1);
  for (const [step, direction] of [[DOWN, -1], [UP, 1]] as const) {
    let m = BigInt(ONE) << 30n;
    for (let k = 0; k <= BOUND; k++, m = (m * step) >> 30n) table[BOUND + direction * k] = Number(m >> 30n);
  }
  return table;
})();

let addon: NativeAddon | undefined | null = null;
const native = () => (addon === null ? (addon = nativeEngine()) : addon);

export class TokenBias {
  /** b (a GPU that codes keeps its own copy while it walks: src/native.ts, NativeCache.bind, then `changed`). */
  readonly values: Int32Array;
  /** Each token's multiplier, MULTIPLIER[(b >> 12) + BOUND]: b changes once a step, the rows are many. */
  private readonly factors: Int32Array;
  /** What the current step has learned, to be added when the next begins. */
  private readonly learned: Int32Array;
  private dirty = false;
  private biasedInts?: Int32Array;
  private biasedFloats?: Float64Array;

  /** rate: η in 1/256 nat (the file's `biasRate`). */
  constructor(vocab: number, readonly rate: number, private readonly engine = native()) {
    this.values = new Int32Array(vocab);
    this.factors = new Int32Array(vocab).fill(ONE);
    this.learned = new Int32Array(vocab);
  }

  /** The step's learning, added to b within its bounds (once a step, before its first row is weighed). */
  settle(): void {
    if (!this.dirty) return;
    const { values: bias, learned, factors } = this;
    if (this.engine) this.engine.biasSettle(bias, learned, MULTIPLIER, factors);
    else {
      for (let j = 0; j < bias.length; j++) bias[j] = Math.min(B_MAX, Math.max(-B_MAX, bias[j] + learned[j]));
      learned.fill(0);
      this.changed();
    }
    this.dirty = false;
  }

  /** b was written from outside (a GPU's copy brought back): the multipliers again. */
  changed(): void {
    const { values: bias, factors } = this;
    for (let j = 0; j < bias.length; j++) factors[j] = MULTIPLIER[(bias[j] >> INDEX_SHIFT) + BOUND];
  }

  /** A row of the model's weights (integers, or a float graph's probabilities) times e^b: a new row, reused per call. */
  weigh(row: ArrayLike<number>): Int32Array | Float64Array {
    const { factors } = this;
    if (row instanceof Int32Array) {
      const out = (this.biasedInts ??= new Int32Array(factors.length));
      if (this.engine) this.engine.biasWeigh(row, factors, out);
      // Exact: w < 2^31 and M < 2^21, so the product is below 2^52 and the quotient floors as integers would.
      else for (let j = 0; j < factors.length; j++) out[j] = Math.floor((row[j] * factors[j]) / ONE);
      return out;
    }
    const out = (this.biasedFloats ??= new Float64Array(factors.length));
    for (let j = 0; j < factors.length; j++) out[j] = (row[j] * factors[j]) / ONE;
    return out;
  }

  /**
   * Learns `token` from the frequencies it was coded with (summing to 2^precision): every b_j loses
   * floor(η · f_j / 2^precision) and b_token gains η, all in 2^-20 nat (η = rate · 2^12).
   */
  learn(freqs: Int32Array, precision: number, token: number): void {
    const { learned, rate } = this;
    const down = 2 ** (precision - 12);
    if (this.engine) this.engine.biasLearn(freqs, learned, rate, precision);
    // Exact: rate · f < 2^8 · 2^precision ≤ 2^40, and the quotient floors as integers would.
    else for (let j = 0; j < learned.length; j++) learned[j] -= Math.floor((rate * freqs[j]) / down);
    learned[token] += rate << 12;
    this.dirty = true;
  }
}

/**
 * Weight j times e^(b_j + c) for each of `count` entries (j, c) of a row's previous token (j at `tokens[tokensAt + i]`,
 * c at `values[valuesAt + i]`), in place over `out` (which holds the row times e^b: TokenBias.weigh): the exponent
 * b_j + c is taken within ±4 nats, and the multiplier looked up as for b alone.
 */
export function weighEntries(out: Int32Array | Float64Array, row: ArrayLike<number>, bias: Int32Array, count: number, tokens: ArrayLike<number>, tokensAt: number, values: ArrayLike<number>, valuesAt: number): void {
  for (let i = 0; i < count; i++) {
    const j = tokens[tokensAt + i];
    const m = MULTIPLIER[Math.min(BOUND, Math.max(-BOUND, (bias[j] + values[valuesAt + i]) >> INDEX_SHIFT)) + BOUND];
    out[j] = out instanceof Int32Array ? Math.floor((row[j] * m) / ONE) : (row[j] * m) / ONE;
  }
}

/**
 * Mixer version 5's pair bias (docs/MIXER.md), a bias for each previous token: for a token p, up to PAIR_ENTRIES
 * tokens j that followed it, each with c in 2^-20 nat (within ±4 nats) added to b_j where p precedes the row. Learned as the token
 * bias is, over its entries only: each entry loses floor(η · f_j / 2^precision), and the coded token gains η (taking a
 * new entry, or the place of the lowest, if it has none). A step's rows learn when the next step begins, in their
 * visit order; the host keeps the table, and a GPU is given each row's entries in its question.
 */
export class PairBias {
  /** Per previous token p: its entries' count, and their tokens and c from p · PAIR_ENTRIES. */
  private readonly counts: Uint8Array;
  readonly tokens: Int32Array;
  readonly values: Int32Array;

  /** rate: η in 1/256 nat (the file's `pairRate`). */
  constructor(vocab: number, readonly rate: number) {
    this.counts = new Uint8Array(vocab);
    this.tokens = new Int32Array(vocab * PAIR_ENTRIES);
    this.values = new Int32Array(vocab * PAIR_ENTRIES);
  }

  /** How many entries previous token p has (-1: none, at a segment's start); they are at p · PAIR_ENTRIES in tokens and values. */
  countOf(p: number): number {
    return p >= 0 ? this.counts[p] : 0;
  }

  /** p's entries into `into`: their tokens from `at`, their c from `at + PAIR_ENTRIES`. */
  copy(p: number, into: Int32Array, at: number): void {
    const { tokens, values } = this, from = p * PAIR_ENTRIES, count = this.countOf(p);
    for (let i = 0; i < count; i++) {
      into[at + i] = tokens[from + i];
      into[at + PAIR_ENTRIES + i] = values[from + i];
    }
  }

  /** What an entry coded with frequency f (of 2^precision) loses: floor(η · f / 2^precision), in 2^-20 nat. */
  loss(f: number, precision: number): number {
    // Exact: rate · f < 2^8 · 2^precision ≤ 2^38, and the quotient floors as integers would.
    return Math.floor((this.rate * f) / 2 ** (precision - 12));
  }

  /**
   * A row's learning, applied (in visit order, when the next step begins): with previous token p it coded `token`,
   * and its `count` entries, as they were (their tokens from `entries[from]`), lose what `entries` holds from `from +
   * 2 · PAIR_ENTRIES` (each to its token, if p still keeps it); then the token gains η.
   */
  learn(p: number, token: number, entries: ArrayLike<number>, from: number, count: number): void {
    if (p < 0) return;
    const { tokens, values } = this, at = p * PAIR_ENTRIES, eta = this.rate << 12;
    for (let i = 0; i < count; i++) {
      // where it was, unless a row before this one in the step replaced it
      const t = entries[from + i], e = tokens[at + i] === t ? at + i : this.find(p, t);
      if (e >= 0) values[e] = Math.max(-B_MAX, values[e] - entries[from + 2 * PAIR_ENTRIES + i]);
    }
    const held = this.counts[p];
    let e = this.find(p, token);
    if (e < 0) {
      if (held < PAIR_ENTRIES) e = at + this.counts[p]++;
      else {
        e = at;
        for (let i = at + 1; i < at + held; i++) if (values[i] < values[e]) e = i;
        values[e] = 0;
      }
      tokens[e] = token;
    }
    values[e] = Math.min(B_MAX, values[e] + eta);
  }

  /** Where p's list holds token t (-1: nowhere). */
  private find(p: number, t: number): number {
    const { tokens } = this, at = p * PAIR_ENTRIES;
    for (let i = at; i < at + this.counts[p]; i++) if (tokens[i] === t) return i;
    return -1;
  }
}
