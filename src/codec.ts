// The model stages: rank or exact-code tokens with a model (encoder side), and turn ranks or a code
// stream back into tokens (decoder side). Both sides walk the tokens in the same schedule of segments
// and batched steps, feeding the model identical tensors, so they see identical logits.
import { RansDecoder } from './ans.ts';
import { printable, UserError } from './cli.ts';
import { DEFAULT_MEMORY } from './container.ts';
import { batchOf, type Layout, lanesFor, lanesOf, type RangedDoc, type TokenTriple, type TokensDoc } from './ir.ts';
import { CODED, DECODED, embeddedModel, embeddedModelWith, type LanguageModel, type Next, runtimeOf, Stepper } from './model.ts';
import type { TokenBias } from './bias.ts';
import { type MixPlan, Mixer, mixesOnDevice } from './mixer.ts';
import { ANSWER, ASK, type NativeCache } from './native.ts';
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
/** Whether an encoder should stop, from the bits its exact intervals took for the first `done` of `total` positions. */
export type GiveUp = (bits: number, done: number, total: number) => boolean;
/**
 * Give up once a quarter is done and the bits so far, plus the rest at the rate of the latter half of what is done, are
 * more than `ceiling` bytes. The rate of the start is left out because an adaptive coder's start costs the most: cm's
 * first quarter of html projects 1.65× its whole (BENCHMARKS.md, "Giving up on the rate of the latter half").
 */
export function projectsAbove(ceiling: number): GiveUp {
  const seen = [{ done: 0, bits: 0 }];
  let half = 0;  // the last of `seen` at or before half of what is done
  return (bits, done, total) => {
    seen.push({ done, bits });
    while (half + 2 < seen.length && 2 * seen[half + 1].done <= done) half++;
    if (half >= 64) {  // what lies before the half is never read again
      seen.splice(0, half);
      half = 0;
    }
    const from = seen[half];
    return 4 * done >= total && (bits + ((bits - from.bits) * (total - done)) / (done - from.done)) / 8 > ceiling;
  };
}
/** What rankTokens throws when its GiveUp said to stop. */
export class GaveUp extends Error {}

/**
 * The exact coder's rANS lane of a position: with `lanes` > 1 each row of a step (its segment's place in its
 * group) has its own state, so a decoder knows every row's next value before it decodes any of them.
 */
export function laneOf(position: number, layout: Pick<Layout, 'segmentLength' | 'batch' | 'lanes'>): number {
  return (layout.lanes ?? 1) > 1 ? Math.floor(position / layout.segmentLength) % layout.batch : 0;
}

/** A row's probability of `token`: its softmax, or its integer weight over the row's sum. */
export function probabilityOf({ probs, weights }: Next, token: number): number {
  if (probs) return probs[token];
  let sum = 0;
  for (let j = 0; j < weights!.length; j++) sum += weights![j];
  return weights![token] / sum;
}

/** One row's part of a step's prediction (see Next). */
function rowOf(next: Next, r: number, vocab: number): Next {
  return {
    logits: next.logits?.subarray(r * vocab, (r + 1) * vocab),
    probs: next.probs?.subarray(r * vocab, (r + 1) * vocab),
    weights: next.weights?.subarray(r * vocab, (r + 1) * vocab),
    coded: next.coded?.subarray(r * CODED, (r + 1) * CODED),
    decoded: next.decoded?.subarray(r * DECODED, (r + 1) * DECODED),
  };
}

/** At most this many predictions (rows × positions) a call when the tokens are known: 64 MB of logits. */
export const PREDICTIONS_A_CALL = 1024;

/**
 * A walk's chance for the event loop to run (a signal's handler, a worker's message), at most every 100 ms: the
 * engines' steps are synchronous, so a walk that only awaited them would hold the loop until its frame ends.
 */
function loopTurns(): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < 100) return;
    await new Promise((resolve) => setImmediate(resolve));
    last = performance.now();
  };
}

/**
 * Drives the model over `count` positions. At each position, `visit` gets the model's prediction of it (see
 * Next) and returns the token that stands there (known to the encoder, decoded by the decoder). With the coder
 * graph, `code` gives each row's question for the step before it runs (the token, or the decoder's value).
 * An encoder passes `known`, the tokens: the integer graph then predicts many positions a call, with the same
 * integers and in the same order of visits as one step at a time.
 */
export async function walk(
  model: LanguageModel,
  count: number,
  layout: Pick<Layout, 'segmentLength' | 'batch' | 'contextwindow' | 'precision'>,
  visit: (next: Next, position: number) => number,
  progress?: Progress,
  prefix: number[] = [],
  code?: (position: number) => number,
  known?: ArrayLike<number>,
): Promise<void> {
  const vocab = model.vocabSize;
  const turn = loopTurns();
  let done = 0;
  if (known && model.graphKind === 'integer' && prefix.length === 0) {
    for (const { starts, lengths } of schedule(count, layout.segmentLength, layout.batch)) {
      const stepper = new Stepper(model, starts.length, layout.contextwindow, undefined, true);
      // what step j feeds a row: BOS, then its tokens; BOS again past its end, as the step-by-step walk does
      const fedAt = (r: number, j: number) => (j === 0 || j > lengths[r] ? model.bos : known[starts[r] + j - 1]);
      const steps = Math.max(...lengths);
      try {
        for (let j = 0; j < steps; ) {
          const n = Math.min(stepper.room(), steps - j, Math.max(1, Math.floor(PREDICTIONS_A_CALL / starts.length)));
          const next = await stepper.feed(starts.map((_, r) => Array.from({ length: n }, (_, i) => fedAt(r, j + i))));
          for (let i = 0; i < n; i++, j++) {
            starts.forEach((s, r) => {
              if (j >= lengths[r]) return;
              if (visit(rowOf(next, r * n + i, vocab), s + j) !== known[s + j]) throw new Error(`walk: the token visited at ${s + j} is not the known one`);
              done++;
            });
          }
          progress?.(done, count);
          await turn();
        }
      } finally {
        stepper.close();
      }
    }
    return;
  }
  for (const { starts, lengths } of schedule(count, layout.segmentLength, layout.batch)) {
    const stepper = new Stepper(model, starts.length, layout.contextwindow, layout.precision);
    let fed: number[] = starts.map(() => model.bos);
    for (const token of prefix) {
      await stepper.step(fed);
      fed = starts.map(() => token);
    }
    const steps = Math.max(...lengths);
    const codes = new Int32Array(starts.length);
    try {
      for (let j = 0; j < steps; j++) {
        if (code) starts.forEach((s, r) => (codes[r] = j < lengths[r] ? code(s + j) : 0));
        const next = await stepper.step(fed, codes);
        fed = starts.map((s, r) => (j < lengths[r] ? visit(rowOf(next, r, vocab), s + j) : model.bos));
        done += starts.filter((_, r) => j < lengths[r]).length;
        progress?.(done, count);
        await turn();
      }
    } finally {
      stepper.close();
    }
  }
}

/** The CUDA engine's predictions a call when the tokens are known: its coder reads them on the GPU. */
const PREDICTIONS_ON_DEVICE = 16384;

/** One stream of tokens in walkOnDevice: its layout, its mixer, and what it asks and is told at each position. */
interface DeviceStream {
  count: number;
  layout: Pick<Layout, 'segmentLength' | 'batch'>;
  mixer?: Mixer;
  /** The encoder's token, or the decoder's value. */
  question(position: number): number;
  /** Reads the GPU's answer (ANSWER numbers from `at`) with the mixer's plan; returns the token. */
  visit(answers: Int32Array, at: number, position: number, plan?: MixPlan): number;
  progress?: Progress;
  /** The encoder's tokens: then the GPU predicts many positions a call. */
  known?: ArrayLike<number>;
  /** What a visit or its progress threw: the stream's rows then step on unvisited, and the other streams finish. */
  failed?: Error;
}

/**
 * The CUDA engine's walk: the GPU computes each row's frequencies, the mixer's share and the interval itself
 * (native/cuda.cu), and answers ANSWER numbers a row (its pair entries' frequencies among them) instead of its
 * weights over the whole vocabulary. Every row of a step is asked at once, so the mixer must learn a step at a time
 * (versions 3 to 5; the GPU keeps and learns the token bias itself, between bind and unbind; the host keeps version
 * 5's pairs), and a decoder must know every row's value before the step (a lane a row). Several streams (llmc's frames) may walk together, group g of each
 * in one cache, so a step has their rows: a GPU's step costs about the same up to hundreds of rows. Each stream's
 * rows keep their positions and their own mixer, so its integers, and so its bytes, are those it has alone.
 */
async function walkOnDevice(model: LanguageModel, streams: DeviceStream[], { contextwindow, precision }: Pick<Layout, 'contextwindow' | 'precision'>): Promise<void> {
  const known = streams[0].known !== undefined;
  const groups = streams.map(({ count, layout }) => schedule(count, layout.segmentLength, layout.batch));
  const done = streams.map(() => 0);
  const fail = (s: number, err: unknown) => (streams[s].failed ??= err instanceof Error ? err : new Error(String(err)));
  const turn = loopTurns();
  for (let g = 0; g < Math.max(...groups.map((group) => group.length)); g++) {
    // the rows of this round: each its stream, first position and length
    const stream: number[] = [], starts: number[] = [], lengths: number[] = [];
    groups.forEach((group, s) => group[g]?.starts.forEach((start, i) => (stream.push(s), starts.push(start), lengths.push(group[g].lengths[i]))));
    const here = [...new Set(stream)];
    const rows = starts.length;
    if (rows === 0 || here.every((s) => streams[s].failed)) continue;
    const stepper = new Stepper(model, rows, contextwindow, undefined, known);
    const cache = stepper.cache as NativeCache;
    // the token biases of this round's streams (mixer version 4), one slot each, kept by the GPU while it walks
    const slots = new Map<number, number>(), biases: TokenBias[] = [];
    for (const s of here) {
      const bias = streams[s].mixer?.tokenBias(model.vocabSize);
      if (bias) slots.set(s, biases.push(bias) - 1);
    }
    const asks = new Int32Array(rows * ASK);
    const plans: (MixPlan | undefined)[] = new Array(rows);
    const steps = Math.max(...lengths);
    const fed = new Array<number>(rows).fill(model.bos);
    const live = (r: number, j: number) => j < lengths[r] && !streams[stream[r]].failed;
    // step j of every row at once, on the predictions offset, offset + stride, … of the last call; a row past its end
    // (or of a failed stream) asks for token 0 and is not visited (these loops make no closures and no arrays: they
    // run a million times)
    const codeStep = (j: number, stride: number, offset: number): void => {
      asks.fill(0);
      for (let r = 0; r < rows; r++) {
        const at = r * ASK;
        asks[at + 1] = -1;
        asks[at + 12] = -1;
        if (!live(r, j)) continue;
        const { mixer, question } = streams[stream[r]];
        const position = starts[r] + j;
        const plan = (plans[r] = mixer?.plan(position));
        asks[at] = question(position);
        asks[at + 12] = slots.get(stream[r]) ?? -1;
        if (plan && plan.candidate >= 0) {
          asks[at + 1] = plan.candidate;
          asks[at + 2] = plan.x1;
          asks[at + 3] = plan.x2;
          mixer!.weightsOf(plan, asks, at + 4);
        }
        if (plan) mixer!.entriesOf(plan, asks, at + 13);
      }
      const answers = cache.code(asks, rows, stride, offset, !known, precision);
      for (let r = 0; r < rows; r++) {
        fed[r] = model.bos;
        if (!live(r, j)) continue;
        try {
          fed[r] = streams[stream[r]].visit(answers, r * ANSWER, starts[r] + j, plans[r]);
          done[stream[r]]++;
        } catch (err) {
          fail(stream[r], err);
        }
      }
    };
    const report = () => {
      for (const s of here) {
        try {
          if (!streams[s].failed) streams[s].progress?.(done[s], streams[s].count);
        } catch (err) {
          fail(s, err);
        }
      }
      return here.some((s) => !streams[s].failed);
    };
    try {
      cache.bind(biases);
      if (known) {
        const fedAt = (r: number, j: number) => (j === 0 || j > lengths[r] ? model.bos : streams[stream[r]].known![starts[r] + j - 1]);
        for (let j = 0; j < steps; ) {
          const n = Math.min(stepper.room(), steps - j, Math.max(1, Math.floor(PREDICTIONS_ON_DEVICE / rows)));
          await stepper.feed(starts.map((_, r) => Array.from({ length: n }, (_, i) => fedAt(r, j + i))), undefined, true);
          for (let i = 0; i < n; i++, j++) codeStep(j, n, i);
          if (!report()) break;
          await turn();
        }
      } else {
        for (let j = 0; j < steps; j++) {
          await stepper.step(fed, undefined, true);
          codeStep(j, 1, 0);
          if (!report()) break;
          await turn();
        }
      }
    } finally {
      try {
        cache.unbind();
      } finally {
        stepper.close();
      }
    }
  }
}

/**
 * The mixer learns a position from the GPU's answer (ANSWER numbers from `at`), whose mixed probability must be its
 * own; the previous token's entries learn from their frequencies in it.
 */
function learnOnDevice(mixer: Mixer, plan: MixPlan, answers: Int32Array, at: number, position: number, precision: number): void {
  if (plan.candidate >= 0 && mixer.settle(plan, answers[at + 4], answers[at + 5] === 1) !== answers[at + 6]) throw new Error(`the GPU mixed position ${position} otherwise than the mixer: a broken GPU or engine`);
  mixer.lose(plan, answers, at + 7, precision);
  mixer.learn(position, answers[at], plan);
}

/** The last commit whose integer-model fingerprints covered the graph file (release 0.5.0). */
const LAST_GRAPH_FINGERPRINT = '39c7df7';

function checkModel(doc: { vocabSize: number; modelFingerprint: string; modelName: string; dtype?: string; runtime?: string; arithmetic?: string }, model: LanguageModel): void {
  // files of an embedded model other than the default (llmc-base before v2) say how to decode them; looked up
  // only for a refusal, not for every frame that matches
  // the same name with another fingerprint: most likely a file from before integer fingerprints covered
  // integer.json rather than the graph file (docs/FORMAT.md, version 5)
  // a solo record names no model: a shipped model whose fingerprint begins as its does is the hint
  const hint = () => {
    if (!doc.modelName) {
      const shipped = doc.modelFingerprint && embeddedModelWith(doc.modelFingerprint);
      return shipped ? `; decode it with -n ${shipped}` : '';
    }
    if (doc.modelName === model.name) return `; another model of that name made it: name its folder with -n, or, if llm-compression 0.5 or earlier made it, decode it with that release (commit ${LAST_GRAPH_FINGERPRINT})`;
    return embeddedModel(doc.modelName) ? `; decode it with -n ${doc.modelName}` : '';
  };
  const coder = doc.modelName ? printable(doc.modelName) : 'a model';
  if (doc.vocabSize !== model.vocabSize) {
    throw new UserError(`wrong model: the input was made for ${coder} (vocabulary ${doc.vocabSize}), this is ${model.name} (vocabulary ${model.vocabSize})${hint()}`);
  }
  if (doc.modelFingerprint && !hex(model.fingerprint).startsWith(doc.modelFingerprint)) {
    throw new UserError(`wrong model: the input was coded with ${coder} ${doc.dtype ?? ''} (fingerprint ${doc.modelFingerprint.slice(0, 12)}…), this is ${model.name} ${model.dtype} (${hex(model.fingerprint).slice(0, 12)}…)${hint()}`);
  }
  if (doc.arithmetic && doc.arithmetic !== model.arithmetic) {
    throw new UserError(`wrong model: the input was coded in ${doc.arithmetic} arithmetic, this graph of ${model.name} computes in ${model.arithmetic}`);
  }
  const runtime = runtimeOf(model.device);
  if (model.arithmetic === 'float' && doc.runtime && doc.runtime !== runtime) {
    // Other kernels may round differently; the hash check after decoding says whether it mattered.
    process.stderr.write(`warning: coded with ${doc.runtime}, decoding with ${runtime}: if the output fails its check, decode on the coding runtime\n`);
  }
}

/**
 * The bytes of model cache that coding `count` tokens of this layout takes: its rows (the segments stepped together)
 * times its window, which a crafted file could make gigabytes for a few tokens. A decoder checks it against --memory,
 * and llmc writes no frame its own --memory could not decode.
 */
export const cacheOfLayout = (count: number, layout: Pick<Layout, 'segmentLength' | 'batch' | 'contextwindow'>, model: LanguageModel): number => model.cacheBytes(lanesFor(count, layout), layout.contextwindow);

/** Refuses a document to decode whose layout would have the model's cache take more than `memory` bytes (llmc --memory). */
function checkCache(count: number, layout: Pick<Layout, 'segmentLength' | 'batch' | 'contextwindow'>, model: LanguageModel, memory: number): void {
  const bytes = cacheOfLayout(count, layout, model);
  if (bytes > memory) throw new UserError(`refused: this layout (${lanesFor(count, layout)} rows of ${layout.contextwindow} positions) needs ${bytes} bytes of model cache, more than the ${memory} allowed (raise --memory if the file is trusted)`);
}

/**
 * modelToInx: ranks every token (rank mode) or gives it its exact interval (exact mode). The stepper graph gives
 * the distribution, which is turned into intervals here; the coder graph computes the interval itself, and its
 * stream then interleaves one rANS lane per row.
 */
export async function rankTokens(doc: TokensDoc, model: LanguageModel, asked: Omit<Layout, 'dtype' | 'lanes'>, progress?: Progress, giveUp?: GiveUp): Promise<TokensDoc> {
  checkModel({ ...doc, modelFingerprint: '' }, model);
  const layout = { ...asked, batch: batchOf(doc.tokenList.length, asked) };
  const inGraph = model.graphKind === 'coder';
  if (inGraph && layout.mode === 'rank') throw new UserError('rank mode decodes from the logits, which the coder graph does not give: use --coder exact, or the CPU');
  const tokens = doc.tokenList.map((t) => t[0]);
  const tokenList: TokenTriple[] = new Array(tokens.length);
  const intervals: [number, number][] | undefined = layout.mode === 'exact' ? new Array(tokens.length) : undefined;
  const freqs = new Frequencies(model.vocabSize, layout.precision);
  // The coder graph computes its intervals itself, from the model alone.
  const mixing = intervals && !inGraph ? layout.mixer : undefined;
  const mixer = mixing && new Mixer(tokens.length, layout.segmentLength, mixing, layout.batch);
  let bits = 0;
  const watched: Progress | undefined = giveUp ? (done, total) => {
    progress?.(done, total);
    if (giveUp(bits, done, total)) throw new GaveUp();
  } : progress;
  if (intervals && model.codesOnDevice && mixesOnDevice(mixing)) {
    const stream: DeviceStream = {
      count: tokens.length,
      layout,
      mixer,
      question: (pos) => tokens[pos],
      visit: (answers, at, pos, plan) => {
        const token = answers[at], start = answers[at + 1], freq = answers[at + 2], rank = answers[at + 3];
        if (token !== tokens[pos]) throw new Error(`the GPU coded token ${token} at ${pos}, not ${tokens[pos]}`);
        if (plan) learnOnDevice(mixer!, plan, answers, at, pos, layout.precision);
        intervals[pos] = [start, freq];
        tokenList[pos] = [token, rank, freq / 2 ** layout.precision];
        if (giveUp) bits += layout.precision - Math.log2(freq);
        return token;
      },
      progress: watched,
      known: tokens,
    };
    await walkOnDevice(model, [stream], layout);
    if (stream.failed) throw stream.failed;
  } else await walk(model, tokens.length, layout, (row, pos) => {
    const { logits, probs, weights, coded } = row;
    const token = tokens[pos];
    if (coded) {
      intervals![pos] = [coded[0], coded[1]];
      tokenList[pos] = [token, coded[2], coded[3]];
      return token;
    }
    const rank = rankOf(logits!, token);
    if (intervals) {
      const row = weights ?? probs!;
      freqs.load(mixer ? mixer.weigh(row, pos) : row);
      mixer?.mix(freqs, pos);
      intervals[pos] = freqs.interval(token);
      mixer?.learn(pos, token);
      if (giveUp) bits += layout.precision - Math.log2(intervals[pos][1]);
    }
    const p = intervals ? freqs.freqs[token] / 2 ** layout.precision : probabilityOf(row, token);
    tokenList[pos] = intervals || rank < layout.topN ? [token, rank, p] : [token, -1, p];
    return token;
  }, watched, [], inGraph ? (pos) => tokens[pos] : undefined, tokens);
  const { mixer: _, ...unmixed } = layout;
  // the coder graph's stream always names its lanes; others have them once they fill a group of rows (format 8)
  const lanes = inGraph ? lanesFor(tokens.length, layout) : intervals ? lanesOf(tokens.length, layout) : 1;
  return {
    ...doc,
    modelName: model.name,
    modelFingerprint: hex(model.fingerprint),
    // Only float arithmetic depends on the runtime; integer files carry nothing of the machine that made them.
    ...(model.arithmetic === 'float' ? { runtime: runtimeOf(model.device) } : {}),
    ...unmixed,
    ...(mixing ? { mixer: mixing } : {}),
    dtype: model.dtype,
    graph: model.graphKind,
    arithmetic: model.arithmetic,
    ...(inGraph || lanes > 1 ? { lanes } : {}),
    tokenList,
    ...(intervals ? { intervals } : {}),
  };
}

/** modelOfInx: puts back the token at each rank (misses carry their token). Also runs generation. */
export async function unrankTokens(doc: TokensDoc & Layout, model: LanguageModel, progress?: Progress, memory = DEFAULT_MEMORY): Promise<TokensDoc> {
  checkModel(doc, model);
  checkCache(doc.tokenList.length, doc, model, memory);
  if (doc.mode !== 'rank') throw new UserError('modelOfInx decodes rank-mode documents; exact-mode streams are decoded by tokensOfRange');
  if (model.graphKind === 'coder') throw new UserError('rank mode decodes from the logits, which the coder graph does not give: decode on the CPU');
  const tokenList = doc.tokenList.map((t) => [...t] as TokenTriple);
  await walk(model, tokenList.length, doc, (row, pos) => {
    const entry = tokenList[pos];
    if (entry[1] >= 0) {
      if (entry[1] >= model.vocabSize) throw new UserError(`rank ${entry[1]} at token ${pos} is outside the vocabulary`);
      entry[0] = tokenAtRank(row.logits!, entry[1]);
    }
    entry[2] = probabilityOf(row, entry[0]);
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

/**
 * Whether a GPU decodes this stream in its own walk (walkOnDevice), beside other such streams: an exact-mode stream
 * with a lane a row, no prompt, and no mixer or one of version 3 or later (the others walk one at a time).
 */
export const walksOnDevice = (doc: RangedDoc): boolean =>
  doc.mode === 'exact' && !doc.sampling && (doc.prompt ?? []).length === 0 && (doc.lanes ?? 1) >= lanesFor(doc.length, doc) && mixesOnDevice(doc.mixer);

/** An exact-mode stream set up to decode: on the device (`stream`, walked with others) or alone (`walk`), then `finish`. */
interface Decoding {
  stream?: DeviceStream;
  walk?: () => Promise<void>;
  finish(): TokensDoc;
}

/** Checks a stream against the model and --memory, and sets up its decoder, its mixer and its tokens. */
function startDecoding(doc: RangedDoc, model: LanguageModel, progress: Progress | undefined, memory: number): Decoding {
  checkModel(doc, model);
  checkCache(doc.length, doc, model, memory);
  if (doc.mode !== 'exact') throw new UserError('tokensOfRange decodes exact-mode streams; rank-mode streams go through rangeDecode and modelOfInx');
  const tokenList: TokenTriple[] = new Array(doc.length);
  const prompt = doc.prompt ?? [];
  const inGraph = model.graphKind === 'coder';
  if (inGraph && !doc.sampling && (doc.lanes ?? 1) < lanesFor(doc.length, doc)) {
    throw new UserError('this stream was coded for the CPU graph (one rANS lane): decode it on the CPU');
  }
  if (inGraph && doc.mixer) throw new UserError('this stream mixes a match model into the model (docs/MIXER.md), which the coder graph does not compute: decode it on the CPU');
  const mixer = doc.mixer && new Mixer(doc.length, doc.segmentLength, doc.mixer, doc.batch);
  const decoder = doc.sampling ? undefined : new RansDecoder(Uint16Array.from(doc.compressed), doc.precision, doc.lanes ?? 1);
  const uniform = new UniformReader(doc.compressed, doc.precision);
  const valueAt = (pos: number) => (decoder ? decoder.peek(laneOf(pos, doc)) : uniform.next());
  const finish = (): TokensDoc => {
    decoder?.finish();
    const { inxToSym, counts, compressed, length, sampling, prompt: _, ...rest } = doc;
    return { ...rest, format: 'llmc-tokens', tokenList: [...prompt.map((t): TokenTriple => [t, -1, 0]), ...tokenList] };
  };
  // the CUDA engine codes on the GPU where every row's value is known before its step (a lane a row)
  if (decoder && model.codesOnDevice && walksOnDevice(doc)) {
    const stream: DeviceStream = {
      count: doc.length,
      layout: doc,
      mixer,
      question: valueAt,
      visit: (answers, at, pos, plan) => {
        const token = answers[at], start = answers[at + 1], freq = answers[at + 2], rank = answers[at + 3];
        if (token < 0) throw new Error(`cumulative value ${valueAt(pos)} is outside 2^precision`);
        decoder.advance(start, freq, laneOf(pos, doc));
        if (plan) learnOnDevice(mixer!, plan, answers, at, pos, doc.precision);
        tokenList[pos] = [token, rank, freq / 2 ** doc.precision];
        return token;
      },
      progress,
    };
    return { stream, finish };
  }
  // the frequencies of a row, where the GPU does not compute them
  const freqs = new Frequencies(model.vocabSize, doc.precision);
  const walkAlone = () => walk(model, doc.length, doc, ({ logits, probs, weights, decoded }, pos) => {
    let token: number, start: number, freq: number;
    if (decoded) [token, start, freq] = decoded;
    else {
      const row = weights ?? probs!;
      freqs.load(mixer ? mixer.weigh(row, pos) : row);
      mixer?.mix(freqs, pos);
      ({ token, start, freq } = freqs.find(valueAt(pos)));
    }
    decoder?.advance(start, freq, laneOf(pos, doc));
    mixer?.learn(pos, token);
    tokenList[pos] = decoded ? [token, decoded[3], decoded[4]] : [token, rankOf(logits!, token), freq / 2 ** doc.precision];
    return token;
  }, progress, prompt, inGraph ? valueAt : undefined);
  return { walk: walkAlone, finish };
}

/**
 * tokensOfRange for several exact-mode streams (llmc's frames) with one model: each stream's tokens, or why it could
 * not be decoded. Streams the GPU codes, of one window and precision, walk together as --memory allows (their caches'
 * bytes summed), so each step holds all their rows; the others walk one after another. A stream that fails does not
 * stop the others.
 */
export async function decodeExactMany(docs: RangedDoc[], model: LanguageModel, memory = DEFAULT_MEMORY, progress: (Progress | undefined)[] = []): Promise<(TokensDoc | UserError)[]> {
  const results: (TokensDoc | UserError | undefined)[] = new Array(docs.length);
  const settle = (i: number, err: unknown) => (results[i] = err instanceof UserError ? err : new UserError((err as Error).message));
  const decodings = docs.map((doc, i) => {
    try {
      return startDecoding(doc, model, progress[i], memory);
    } catch (err) {
      settle(i, err);
      return undefined;
    }
  });
  // the device's streams in walks of one window and precision, each within --memory
  const walks: { key: string; bytes: number; members: number[] }[] = [];
  decodings.forEach((decoding, i) => {
    if (!decoding?.stream) return;
    const key = `${docs[i].contextwindow}:${docs[i].precision}`, bytes = cacheOfLayout(docs[i].length, docs[i], model);
    const open = walks.find((w) => w.key === key && w.bytes + bytes <= memory);
    if (open) open.bytes += bytes, open.members.push(i);
    else walks.push({ key, bytes, members: [i] });
  });
  for (const { members } of walks) {
    try {
      await walkOnDevice(model, members.map((i) => decodings[i]!.stream!), docs[members[0]]);
    } catch (err) {
      for (const i of members) settle(i, err);
    }
  }
  for (const [i, decoding] of decodings.entries()) {
    if (!decoding || results[i]) continue;
    try {
      await decoding.walk?.();
      if (decoding.stream?.failed) throw decoding.stream.failed;
      results[i] = decoding.finish();
    } catch (err) {
      settle(i, err);
    }
  }
  return results as (TokensDoc | UserError)[];
}

/** tokensOfRange: decodes an exact-mode stream, running the model and the rANS decoder together. */
export async function decodeExact(doc: RangedDoc, model: LanguageModel, progress?: Progress, memory = DEFAULT_MEMORY): Promise<TokensDoc> {
  const [tokens] = await decodeExactMany([doc], model, memory, [progress]);
  if (tokens instanceof UserError) throw tokens;
  return tokens;
}

/** Defaults of the coding layout (BENCHMARKS.md shows how they were chosen). */
export const DEFAULT_LAYOUT = { topN: 128, precision: 24, segmentLength: 2048, batch: 256 };
