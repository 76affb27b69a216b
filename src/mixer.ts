// Long-range memory mixed into the model's distribution (docs/MIXER.md). The model sees a window of a few
// hundred tokens; a match model sees the frame's whole token history, and predicts the token that followed the
// last occurrence of the current context. A small logistic mixer, learned online, weighs that prediction against
// the model's own probability of the same token, and the token gets the mixed probability while every other
// token keeps its share of the rest. All of it is integer arithmetic (and float64 steps in a fixed order), so the
// encoder and the decoder, updating in the same visit order, compute the same frequencies on every machine.
import { PairBias, TokenBias, weighEntries } from './bias.ts';
import { PAIR_ENTRIES } from './native.ts';
import type { Frequencies } from './ranks.ts';

/** The mixer's settings, which a frame's header records: every one of them changes the intervals. */
export interface MixerSettings {
  /**
   * The arithmetic and structure of this file's mixer: 1 the match model, 2 the match model and a context cache, 3 as 2
   * with what a step learns applied after the step, so that every row of a step mixes from the same state, 4 as 3 with
   * a bias on every token learned from the file (src/bias.ts), 5 as 4 with a bias for each previous token too.
   */
  version: 1 | 2 | 3 | 4 | 5;
  /** Tokens of context a match is found by. */
  minMatch: number;
  /** The mixer's learning rate: each step moves a weight by input × error / 2^learningShift. */
  learningShift: number;
  /** How fast a match length's hit rate follows: by 1/2^matchRate of each error. */
  matchRate: number;
  /** From version 4: how fast the token bias learns, η in 1/256 nat a token. */
  biasRate?: number;
  /** Version 5 only: how fast the pair bias learns, η in 1/256 nat a token. */
  pairRate?: number;
}

/** Mixer version 3: the match model and the context cache (llmc's default from 0.11 to 0.15). */
export const MATCH_MIXER: MixerSettings = { version: 3, minMatch: 3, learningShift: 13, matchRate: 4 };

/** Version 4, the match model, the context cache and the token bias (the default from 0.16 to 0.18). */
export const BIAS_MIXER: MixerSettings = { ...MATCH_MIXER, version: 4, biasRate: 26 };

/** The default since 0.19: version 5, version 4 and the pair bias. */
export const DEFAULT_MIXER: MixerSettings = { ...BIAS_MIXER, version: 5, pairRate: 77 };

/** The mixers a user may name (`--mixer`): the default (both biases), the token bias alone, the match model and cache alone, or none (the model alone). */
export const MIXERS = { pairs: DEFAULT_MIXER, bias: BIAS_MIXER, match: MATCH_MIXER, none: undefined } as const;

/** The bounds a decoder accepts for each setting (docs/FORMAT.md); biasRate is from version 4, pairRate version 5's. */
const MIXER_BOUNDS = { minMatch: [1, 15], learningShift: [8, 24], matchRate: [1, 12], biasRate: [1, 63], pairRate: [1, 255] } as const;

/** Whether a GPU mixes a whole step's rows with these settings: versions 3 to 5, which learn a step at a time. */
export const mixesOnDevice = (settings: MixerSettings | undefined): boolean => !settings || settings.version >= 3;

/** What is wrong with mixer settings read from a file or a document, for a coder of `mode` and `precision`, if anything. */
export function mixerProblem(value: unknown, mode: unknown, precision: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the mixer settings are not a JSON object';
  const settings = value as Record<string, unknown>;
  if (![1, 2, 3, 4, 5].includes(settings.version as number)) return `mixer version ${String(settings.version).slice(0, 20)} is unknown to this build (it reads versions 1 to 5)`;
  const unknown = Object.keys(settings).find((key) => key !== 'version' && !(key in MIXER_BOUNDS));
  if (unknown !== undefined) return `unknown mixer setting ${JSON.stringify(unknown.slice(0, 40))}`;
  const has = { biasRate: (settings.version as number) >= 4, pairRate: settings.version === 5 } as Record<string, boolean>;
  for (const [key, [lo, hi]] of Object.entries(MIXER_BOUNDS)) {
    if (has[key] === false) {
      if (settings[key] !== undefined) return `mixer version ${settings.version} has no ${key}`;
      continue;
    }
    const v = settings[key];
    if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) return `mixer setting ${key} must be an integer in ${lo}..${hi}`;
  }
  if (mode !== 'exact' || !((precision as number) >= 16)) return 'a mixer needs the exact coder and a precision of at least 16 bits';
  return undefined;
}

/**
 * The logistic function in fixed point: squash(d) = 2^16 / (1 + e^(-d/256)) for d in 1/256 nat, clamped to ±8 nat,
 * by linear interpolation between its values at every quarter nat (these 65 integers, rounded).
 */
const SQUASH = Int32Array.of(
  22, 28, 36, 47, 60, 77, 98, 126, 162, 208, 267, 342, 439, 562, 720, 922, 1179, 1506, 1921, 2446, 3108, 3938, 4971,
  6249, 7812, 9702, 11955, 14595, 17625, 21025, 24743, 28693, 32768, 36843, 40793, 44511, 47911, 50941, 53581, 55834,
  57724, 59287, 60565, 61598, 62428, 63090, 63615, 64030, 64357, 64614, 64816, 64974, 65097, 65194, 65269, 65328,
  65374, 65410, 65438, 65459, 65476, 65489, 65500, 65508, 65514,
);
const D_MAX = 2047;

export function squash(d: number): number {
  const x = Math.min(D_MAX, Math.max(-D_MAX, d)) + 2048;
  const i = x >> 6;
  const w = x & 63;
  return (SQUASH[i] * (64 - w) + SQUASH[i + 1] * w) >> 6;
}

/** stretch = squash⁻¹ on 12-bit probabilities: the smallest d whose squash reaches p (built from squash itself). */
const STRETCH = (() => {
  const table = new Int16Array(4096).fill(D_MAX);
  let p = 0;
  for (let d = -D_MAX; d <= D_MAX; d++) for (const top = squash(d) >> 4; p <= top; p++) table[p] = d;
  return table;
})();

/** stretch of a 16-bit probability. */
export const stretch = (p16: number): number => STRETCH[p16 >> 4];

/** The two tables, for a GPU that mixes (native/cuda.cu). */
export const MIXER_TABLES = { squash: SQUASH, stretch: STRETCH };

/** The most a match's length counts. */
const MAX_MATCH = 15;

/** The most earlier contexts a match search compares (a hash chain's length), so a search's time is bounded. */
const CHAIN_STEPS = 32;

/**
 * The match model: each learned position is filed under a hash of the minMatch tokens that end there, in a chain
 * of earlier positions with the same hash (latest first). At a new position the chain gives the latest earlier
 * position whose minMatch tokens are the same, and the match predicts the token that followed it; while the
 * tokens keep agreeing, the match goes on and its length grows. Positions are learned in the coder's visit order,
 * rows interleaved, so a match may point only to positions already known; each segment has its own match, and
 * its contexts never reach back past the segment's start (the decoder does not know those tokens yet).
 */
class MatchModel {
  readonly tokens: Int32Array;
  private readonly known: Uint8Array;
  private readonly heads: Int32Array;
  private readonly chain: Int32Array;
  private readonly shift: number;
  /** Per segment: the position whose token the match predicts, and the match's length (0: none). */
  private readonly pointer: Int32Array;
  private readonly length: Int32Array;

  constructor(
    count: number,
    private readonly segmentLength: number,
    private readonly minMatch: number,
  ) {
    this.tokens = new Int32Array(count);
    this.known = new Uint8Array(count);
    this.chain = new Int32Array(count);
    const bits = tableBits(count);
    this.heads = new Int32Array(1 << bits).fill(-1);
    this.shift = 32 - bits;
    const segments = segmentLength > 0 ? Math.ceil(count / segmentLength) : 1;
    this.pointer = new Int32Array(segments);
    this.length = new Int32Array(segments);
  }

  private segmentOf(position: number): number {
    return this.segmentLength > 0 ? Math.floor(position / this.segmentLength) : 0;
  }

  /** The first position of `position`'s segment. */
  segmentStart(position: number): number {
    return this.segmentOf(position) * this.segmentLength;
  }

  /** The match's length at `position` where it predicts a token (its pointer's token is known), else 0. */
  lengthAt(position: number): number {
    const s = this.segmentOf(position);
    return this.length[s] > 0 && this.known[this.pointer[s]] === 1 ? this.length[s] : 0;
  }

  /** The token a match of lengthAt(position) > 0 predicts. */
  tokenAt(position: number): number {
    return this.tokens[this.pointer[this.segmentOf(position)]];
  }

  /** Hash of the minMatch tokens that end at `end` (inclusive). */
  private hash(end: number): number {
    let h = 0;
    for (let i = end - this.minMatch + 1; i <= end; i++) h = Math.imul(h ^ this.tokens[i], 0x9e3779b1) + 0x7f4a7c15;
    return h >>> this.shift;
  }

  /** How many tokens agree, going back from `a` and from `b` (b's segment starting at `start`), up to MAX_MATCH. */
  private agreement(a: number, b: number, start: number): number {
    const { tokens, known } = this;
    let n = 0;
    while (n < MAX_MATCH && b - n >= start && a - n >= 0 && known[a - n] === 1 && tokens[a - n] === tokens[b - n]) n++;
    return n;
  }

  learn(position: number, token: number): void {
    const { tokens, known } = this;
    tokens[position] = token;
    known[position] = 1;
    const s = this.segmentOf(position);
    const start = s * this.segmentLength;
    const p = this.pointer[s];
    if (this.length[s] > 0 && known[p] === 1 && tokens[p] === token) {
      this.length[s] = Math.min(MAX_MATCH, this.length[s] + 1);
      this.pointer[s] = p + 1;
    } else {
      this.length[s] = 0;
    }
    if (position - start + 1 < this.minMatch) return;
    const slot = this.hash(position);
    if (this.length[s] === 0) {
      for (let e = this.heads[slot], steps = 0; e >= 0 && steps < CHAIN_STEPS; e = this.chain[e], steps++) {
        const agree = this.agreement(e, position, start);
        if (agree >= this.minMatch) {
          this.pointer[s] = e + 1;
          this.length[s] = agree;
          break;
        }
      }
    }
    this.chain[position] = this.heads[slot];
    this.heads[slot] = position;
  }
}

/** Table bits for `count` positions: about two slots a position, from 2^10 to 2^22. */
const tableBits = (count: number) => Math.min(22, Math.max(10, Math.ceil(Math.log2(count + 1)) + 1));

/** Tokens of context the cache is kept by (orders 1 and 3 did worse on logs, mail and HTML: docs/MIXER.md). */
const CACHE_ORDER = 2;

/**
 * The context cache (mixer version 2): under a hash of the CACHE_ORDER tokens before a position (in its segment),
 * the token that last followed them and how many times in a row it did (0..15). It predicts where no match
 * does, and backs a match that predicts the same token. Shared by all segments, learned in the visit order.
 */
class ContextCache {
  private readonly token: Int32Array;
  private readonly runs: Uint8Array;
  private readonly shift: number;

  constructor(count: number, private readonly history: MatchModel) {
    const bits = tableBits(count);
    this.token = new Int32Array(1 << bits).fill(-1);
    this.runs = new Uint8Array(1 << bits);
    this.shift = 32 - bits;
  }

  /** The slot of `position`'s context, or -1 when it has fewer than two tokens of its segment behind it. */
  slot(position: number): number {
    if (position - this.history.segmentStart(position) < CACHE_ORDER) return -1;
    const { tokens } = this.history;
    let h = 0;
    for (let i = position - CACHE_ORDER; i < position; i++) h = Math.imul(h + tokens[i] + 0x7f4a7c15, 0x9e3779b1);
    return Math.imul(h, 0x85ebca6b) >>> this.shift;
  }

  /** The slot's token (-1: none, or no slot) and its run. */
  tokenAt(slot: number): number {
    return slot >= 0 ? this.token[slot] : -1;
  }

  runsAt(slot: number): number {
    return this.runs[slot];
  }

  learn(slot: number, token: number): void {
    if (slot < 0) return;
    if (this.token[slot] === token) this.runs[slot] = Math.min(MAX_MATCH, this.runs[slot] + 1);
    else {
      this.token[slot] = token;
      this.runs[slot] = 0;
    }
  }
}

/**
 * Mixer weights are 16.16 fixed point; each weight set has one for the model, the match, the context cache and a
 * bias. Version 1 has no cache: its input is always 0, so its weight never moves nor counts.
 */
const ONE = 1 << 16;
const INPUTS = 4;
const BIAS = 256;

/** x0, the model's input: the stretch of its frequency of the token, taken to 16 bits (at most just under 1). */
export function modelInput(frequency: number, precision: number): number {
  return stretch(Math.min(ONE - 1, Math.floor(frequency / 2 ** (precision - 16))));
}

/** The mixed probability (16 bits): the weight set at w[at..at + 3] times x0, x1, x2 and the bias, squashed. */
export function mixedOf(w: ArrayLike<number>, at: number, x0: number, x1: number, x2: number): number {
  return squash(Math.floor((w[at] * x0 + w[at + 1] * x1 + w[at + 2] * x2 + w[at + 3] * BIAS) / ONE));
}
const WEIGHT_LIMIT = 1 << 22;
/** A weight moved along its input times the error, within the limit. */
const nudged = (w: number, x: number, err: number, shift: number) => Math.min(WEIGHT_LIMIT, Math.max(-WEIGHT_LIMIT, w + ((x * err) >> shift)));
/** Weight sets: by match length, whether the token is the model's first choice and whether the cache agrees; then, without a match, by the cache's run and the model's first choice. */
const MATCH_SETS = 2 * 2 * (MAX_MATCH + 1);
const CACHE_SETS = 2 * (MAX_MATCH + 1);

/** What mixing a position decided, which learning the token needs (see Mixer.plan). */
export class MixPlan {
  /** The token given the mixed probability (-1: none), and the match length behind it (0: the cache's). */
  candidate = -1;
  length = 0;
  /** The cache's slot of the position, the token it held (-1: none) and its run. */
  slot = -1;
  cachedToken = -1;
  cachedRuns = 0;
  /** The weight sets taken when the token is not and is the model's first choice, and the one taken. */
  notFirst = 0;
  first = 0;
  context = 0;
  /** The inputs (x3 is the bias) and the mixed probability. */
  x0 = 0;
  x1 = 0;
  x2 = 0;
  mixed = 0;
  /**
   * Version 5: the previous token (-1: none), and its entries as the row was weighed, from entriesAt in the mixer's
   * `entries`: their tokens, their c and what each loses, PAIR_ENTRIES places each.
   */
  previous = -1;
  entryCount = 0;
  entriesAt = 0;
}

/**
 * Mixes the match model (and, from version 2, the context cache) into each row's frequencies. `mix` comes before
 * the token is coded (or decoded) and `learn` after, position by position in the visit order; both sides make
 * the same calls. Up to version 2 each position learns at once, so a row mixes from what the rows before it in the
 * same step learned; from version 3 what a step learns is applied when the next step begins, so every row of a
 * step mixes from the same state, and a device can mix all of them at once.
 */
export class Mixer {
  private readonly match: MatchModel;
  private readonly cache?: ContextCache;
  /** Per match length, and per cache run: how often such a prediction was right (16-bit probability). */
  private readonly hits = new Int32Array(MAX_MATCH + 1).fill(3 << 14);
  private readonly cacheHits = new Int32Array(MAX_MATCH + 1).fill(1 << 15);
  private readonly weights: Int32Array;
  /**
   * Version 4: the token bias (made at the first row, which gives the vocabulary), and the row last mixed here, which
   * it learns from; where a GPU weighs and learns (codec.ts, walkOnDevice) no row comes here, and the GPU keeps b.
   */
  private bias?: TokenBias;
  /** Version 5: the pair bias (made with the token bias; kept here also where a GPU weighs: a row's entries go in its question). */
  private pairs?: PairBias;
  /** Version 5: the entries of a step's plans (tokens, c and losses, PAIR_ENTRIES places each), and how many plans of the step `plannedStep` hold some. */
  private readonly entries: Int32Array;
  private planned = 0;
  private plannedStep = -1;
  private row?: Frequencies;
  private pending?: MixPlan;
  /** Version 3: the step's learned positions, waiting for the next step, and the step they belong to. */
  private readonly waiting: { pending: MixPlan; position: number; token: number }[] = [];
  private waitingStep = -1;

  /** batch: the rows a step codes together (docs/IR.md), which version 3 needs to tell the steps apart. */
  constructor(
    count: number,
    private readonly segmentLength: number,
    private readonly settings: MixerSettings = DEFAULT_MIXER,
    private readonly batch = 1,
  ) {
    this.match = new MatchModel(count, segmentLength, settings.minMatch);
    if (settings.version >= 2) this.cache = new ContextCache(count, this.match);
    // a step plans at most a row a segment of its group
    this.entries = new Int32Array(settings.version >= 5 ? Math.max(1, batch) * 3 * PAIR_ENTRIES : 0);
    this.weights = new Int32Array((MATCH_SETS + CACHE_SETS) * INPUTS);
    for (let c = 0; c < MATCH_SETS; c++) this.weights.set([ONE, ONE >> 2, ONE >> 2, 0], c * INPUTS);
    for (let c = MATCH_SETS; c < MATCH_SETS + CACHE_SETS; c++) this.weights.set([ONE, 0, ONE >> 2, 0], c * INPUTS);
  }

  /** The step that visits `position` (its group of segments and its place in its segment), in visit order. */
  private stepOf(position: number): number {
    if (this.segmentLength <= 0) return position;
    const segment = Math.floor(position / this.segmentLength);
    return Math.floor(segment / this.batch) * this.segmentLength + (position - segment * this.segmentLength);
  }

  /** What a step learned, once its next step begins (version 3 on). */
  private enter(position: number): void {
    if (this.waiting.length > 0 && this.stepOf(position) !== this.waitingStep) this.flush();
  }

  /**
   * The model's row of weights for `position` as the mixer's version has it: times e^bias from version 4 (and e^c of
   * the previous token's entries in version 5), else as is.
   */
  weigh<Row extends ArrayLike<number>>(row: Row, position: number): Row | Int32Array | Float64Array {
    const bias = this.tokenBias(row.length);
    if (!bias) return row;
    this.enter(position);
    const out = bias.weigh(row);
    if (this.pairs) {
      const { tokens, values } = this.pairs, p = this.previousOf(position), from = p * PAIR_ENTRIES;
      weighEntries(out, row, bias.values, this.pairs.countOf(p), tokens, from, values, from);
    }
    return out;
  }

  /** The token bias over a vocabulary of `vocab` (undefined before version 4); version 5's bias for each previous token comes with it. */
  tokenBias(vocab: number): TokenBias | undefined {
    if (this.settings.version < 4) return undefined;
    if (this.settings.version >= 5) this.pairs ??= new PairBias(vocab, this.settings.pairRate!);
    return (this.bias ??= new TokenBias(vocab, this.settings.biasRate!));
  }

  /** The token before `position` in its segment (-1 at the segment's start): known, since its step has been learned. */
  private previousOf(position: number): number {
    return position > this.match.segmentStart(position) ? this.match.tokens[position - 1] : -1;
  }

  /** Gives the predicted token, if any, its mixed probability in `freqs` (in place; the others share the rest). */
  mix(freqs: Frequencies, position: number): void {
    this.row = freqs;
    const plan = this.plan(position);
    if (plan.candidate < 0) return;
    const mixed = this.settle(plan, modelInput(freqs.freqs[plan.candidate], freqs.precision), plan.candidate === freqs.top);
    freqs.share(plan.candidate, mixed * 2 ** (freqs.precision - 16));
  }

  /**
   * What mixing `position` needs besides the model's row: the predicted token (candidate, -1: none), its inputs x1
   * and x2 and its two weight sets (weightsOf). `settle` finishes it with the model's row, and `learn` takes it with
   * the token; `mix` does all on the CPU, where a GPU mixes a whole step's rows at once.
   */
  plan(position: number): MixPlan {
    this.enter(position);
    const plan = new MixPlan();
    this.pending = plan;
    if (this.settings.version >= 5) {
      if (!this.pairs) throw new Error('mixer version 5 plans a row before it knows the vocabulary (tokenBias)');
      plan.previous = this.previousOf(position);
      const count = (plan.entryCount = this.pairs.countOf(plan.previous));
      if (count > 0) {
        const step = this.stepOf(position);
        if (step !== this.plannedStep) (this.plannedStep = step), (this.planned = 0);
        plan.entriesAt = this.planned++ * 3 * PAIR_ENTRIES;
        if (plan.entriesAt >= this.entries.length) throw new Error('a step planned more rows than its batch');
        this.pairs.copy(plan.previous, this.entries, plan.entriesAt);
      }
    }
    const length = this.match.lengthAt(position);
    if (this.cache) {
      plan.slot = this.cache.slot(position);
      plan.cachedToken = this.cache.tokenAt(plan.slot);
      if (plan.cachedToken >= 0) plan.cachedRuns = this.cache.runsAt(plan.slot);
    }
    const token = length > 0 ? this.match.tokenAt(position) : plan.cachedToken;
    if (token < 0) return plan;
    const agrees = plan.cachedToken === token;
    plan.candidate = token;
    plan.length = length;
    plan.x1 = length > 0 ? stretch(this.hits[length]) : 0;
    plan.x2 = agrees ? stretch(this.cacheHits[plan.cachedRuns]) : 0;
    // with a match: by its length, the model's first choice and the cache's agreement; else by the cache's run
    plan.notFirst = (length > 0 ? length * 4 + (agrees ? 1 : 0) : MATCH_SETS + plan.cachedRuns * 2) * INPUTS;
    plan.first = plan.notFirst + (length > 0 ? 2 : 1) * INPUTS;
    return plan;
  }

  /**
   * A plan's entries of the pair bias into a question from `at`: their count, then PAIR_ENTRIES places
   * for their tokens and as many for their c.
   */
  entriesOf(plan: MixPlan, into: Int32Array, at: number): void {
    const n = plan.entryCount;
    into[at] = n;
    if (n === 0) return;
    const { entries } = this, from = plan.entriesAt;
    for (let i = 0; i < n; i++) {
      into[at + 1 + i] = entries[from + i];
      into[at + 1 + PAIR_ENTRIES + i] = entries[from + PAIR_ENTRIES + i];
    }
  }

  /** What a plan's entries lose, from the frequencies they were coded with (entry i's at freqs[at + i]: a GPU's answer). */
  lose(plan: MixPlan, freqs: ArrayLike<number>, at: number, precision: number): void {
    const losses = plan.entriesAt + 2 * PAIR_ENTRIES;
    for (let i = 0; i < plan.entryCount; i++) this.entries[losses + i] = this.pairs!.loss(freqs[at + i], precision);
  }

  /** A plan's weight sets into `into` from `at`: for the token not the model's first choice, then for it the first. */
  weightsOf(plan: MixPlan, into: Int32Array, at: number): void {
    into.set(this.weights.subarray(plan.notFirst, plan.notFirst + INPUTS), at);
    into.set(this.weights.subarray(plan.first, plan.first + INPUTS), at + INPUTS);
  }

  /**
   * The planned token's mixed probability (16 bits), given x0 (the stretch of the model's probability of it) and
   * whether it is the model's first choice: the weight set's dot product with the inputs, squashed.
   */
  settle(plan: MixPlan, x0: number, top: boolean): number {
    plan.x0 = x0;
    plan.context = top ? plan.first : plan.notFirst;
    return (plan.mixed = mixedOf(this.weights, plan.context, x0, plan.x1, plan.x2));
  }

  /** Learns `token` at `position`, with what its plan decided (by default the last one made). */
  learn(position: number, token: number, pending = this.pending!): void {
    if (this.settings.version < 3) return this.apply(pending, position, token);
    // the biases learn from the row as coded (it is reused for the next), and apply it with the rest
    if (this.bias && this.row) {
      const { freqs, precision } = this.row;
      this.bias.learn(freqs, precision, token);
      const { entries } = this, from = pending.entriesAt;
      for (let i = 0; i < pending.entryCount; i++) entries[from + 2 * PAIR_ENTRIES + i] = this.pairs!.loss(freqs[entries[from + i]], precision);
    }
    this.waiting.push({ pending, position, token });
    this.waitingStep = this.stepOf(position);
  }

  /** From version 3: what the last step learned, in its visit order, and the bias's learning. */
  private flush(): void {
    for (const { pending, position, token } of this.waiting) this.apply(pending, position, token);
    this.waiting.length = 0;
    this.bias?.settle();
  }

  private apply(plan: MixPlan, position: number, token: number): void {
    const { learningShift, matchRate } = this.settings;
    if (plan.candidate >= 0) {
      const right = token === plan.candidate ? ONE : 0;
      const err = right - plan.mixed;
      const w = this.weights;
      const c = plan.context;
      w[c] = nudged(w[c], plan.x0, err, learningShift);
      w[c + 1] = nudged(w[c + 1], plan.x1, err, learningShift);
      w[c + 2] = nudged(w[c + 2], plan.x2, err, learningShift);
      w[c + 3] = nudged(w[c + 3], BIAS, err, learningShift);
      if (plan.length > 0) this.hits[plan.length] += (right - this.hits[plan.length]) >> matchRate;
    }
    if (plan.cachedToken >= 0) this.cacheHits[plan.cachedRuns] += ((token === plan.cachedToken ? ONE : 0) - this.cacheHits[plan.cachedRuns]) >> matchRate;
    this.cache?.learn(plan.slot, token);
    this.match.learn(position, token);
    this.pairs?.learn(plan.previous, token, this.entries, plan.entriesAt, plan.entryCount);
  }
}
