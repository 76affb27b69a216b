// The match model and mixer (docs/MIXER.md): the same frequencies as an independent implementation (a brute-force
// match search and BigInt arithmetic) on the real tiny model's rows, and round trips through llmc and the stages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LAYOUT, walk } from '../src/codec.ts';
import { decodeBin, splitRecords } from '../src/container.ts';
import { PairBias, TokenBias } from '../src/bias.ts';
import { BIAS_MIXER, DEFAULT_MIXER, MATCH_MIXER, Mixer, type MixerSettings, squash } from '../src/mixer.ts';
import { loadModel } from '../src/model.ts';
import { rangeOfFrame } from '../src/range.ts';
import { PAIR_ENTRIES } from '../src/native.ts';
import { Frequencies, nativeRows } from '../src/ranks.ts';
import { tokensOfStr } from '../src/tokenize.ts';
import { compress, decompress, ok, ROOT, SCARLET, stage } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
/** Real JSON that repeats itself far apart: what the match model is for. */
const JSON_TEXT = readFileSync(join(ROOT, 'node_modules', 'protobufjs', 'google', 'protobuf', 'descriptor.json')).subarray(0, 12000);

/**
 * The reference: the match found by searching every earlier learned position (latest first) for the same
 * minMatch tokens, the context cache (versions 2 and 3) as a map of slots, and the mixture computed with BigInt from
 * the definitions in docs/MIXER.md. `mix` returns what `learn` needs, so the caller decides when learning happens
 * (version 3: after the step).
 */
/** What the reference's mix decided, for its learn. */
interface Learning {
  pending?: { token: number; length: number; key: string; x: number[]; p: number };
  cached: { slot: number; token?: number; runs: number };
}

/**
 * Version 4's token bias from docs/MIXER.md, in BigInt: b in 2^-20 nat within ±2^22, the multiplier table built from
 * 2^45 at its middle by steps of round(2^30 · e^(∓1/256)) each way, and a step's learning added when the next step begins.
 */
class ReferenceBias {
  private readonly b: bigint[];
  private learned: bigint[];
  private readonly table: bigint[] = [];
  constructor(vocab: number, private readonly rate: number) {
    this.b = Array<bigint>(vocab).fill(0n);
    this.learned = Array<bigint>(vocab).fill(0n);
    for (const [step, direction] of [[1069555701n, -1], [1077944331n, 1]] as const) {
      let m = 2n ** 45n;
      for (let k = 0; k <= 1024; k++, m = (m * step) / 2n ** 30n) this.table[1024 + direction * k] = m / 2n ** 30n;
    }
  }

  /** The weights times e^b, floored; a token with a pair's c (version 5) times e^(b + c), b + c within ±4 nats. */
  weigh(w: Int32Array, pairs = new Map<number, bigint>()): Int32Array {
    // b >> 12 is a floor, for negative b too
    const index = (b: bigint) => Math.min(2048, Math.max(0, Number((b >= 0n ? b / 4096n : -((-b + 4095n) / 4096n)) + 1024n)));
    return Int32Array.from(w, (wj, j) => Number((BigInt(wj) * this.table[index(this.b[j] + (pairs.get(j) ?? 0n))]) / 32768n));
  }

  learn(f: Int32Array, precision: number, token: number): void {
    const eta = BigInt(this.rate) * 4096n;
    this.learned = this.learned.map((l, j) => l - (eta * BigInt(f[j])) / 2n ** BigInt(precision) + (j === token ? eta : 0n));
  }

  settle(): void {
    const bound = 2n ** 22n;
    this.learned.forEach((l, j) => {
      const v = this.b[j] + l;
      this.b[j] = v > bound ? bound : v < -bound ? -bound : v;
    });
    this.learned.fill(0n);
  }
}

/**
 * Version 5's pair bias from docs/MIXER.md: for each previous token a list of at most 32 (token, c), c within ±2^22.
 * A row's entries each lose floor(η · f / 2^precision) (if still held), then its token gains η, taking the place of the
 * first lowest entry when the list is full and does not hold it.
 */
class ReferencePairs {
  private readonly lists = new Map<number, [number, bigint][]>();
  constructor(private readonly rate: number) {}

  /** The entries of previous token p as a map of c (p -1: none). */
  of(p: number): Map<number, bigint> {
    return new Map(this.lists.get(p) ?? []);
  }

  /** What each entry of p loses, from the row's final frequencies. */
  losses(p: number, f: Int32Array, precision: number): [number, bigint][] {
    const eta = BigInt(this.rate) * 4096n;
    return [...this.of(p)].map(([j]) => [j, (eta * BigInt(f[j])) / 2n ** BigInt(precision)]);
  }

  learn(p: number, token: number, losses: [number, bigint][]): void {
    if (p < 0) return;
    const bound = 2n ** 22n, eta = BigInt(this.rate) * 4096n;
    const list = this.lists.get(p) ?? [];
    this.lists.set(p, list);
    for (const [j, loss] of losses) {
      const entry = list.find(([t]) => t === j);
      if (entry) entry[1] = entry[1] - loss < -bound ? -bound : entry[1] - loss;
    }
    let entry = list.find(([t]) => t === token);
    if (!entry) {
      if (list.length < 32) list.push((entry = [token, 0n]));
      else {
        const lowest = list.reduce((low, e) => (e[1] < low[1] ? e : low));
        list[list.indexOf(lowest)] = entry = [token, 0n];
      }
    }
    entry[1] = entry[1] + eta > bound ? bound : entry[1] + eta;
  }
}

class ReferenceMixer {
  private readonly tokens = new Map<number, number>();
  private readonly learned: number[] = [];
  private readonly match = new Map<number, { pointer: number; length: number }>();
  private readonly hits = Array<number>(16).fill(3 << 14);
  private readonly cacheHits = Array<number>(16).fill(1 << 15);
  private readonly cache = new Map<number, { token: number; runs: number }>();
  private readonly weights = new Map<string, number[]>();
  private readonly slotBits: number;

  constructor(
    count: number,
    private readonly segmentLength: number,
    private readonly s: MixerSettings,
  ) {
    this.slotBits = Math.min(22, Math.max(10, Math.ceil(Math.log2(count + 1)) + 1));
  }

  private stretch(p16: number): number {
    for (let d = -2047; d < 2047; d++) if (squash(d) >> 4 >= p16 >> 4) return d;
    return 2047;
  }

  private segment = (p: number) => Math.floor(p / this.segmentLength);

  /** The cache's slot: the hash of docs/MIXER.md in BigInt arithmetic modulo 2^32 (-1: no context, or version 1). */
  private slot(position: number): number {
    if (this.s.version < 2 || position - this.segment(position) * this.segmentLength < 2) return -1;
    const m32 = (v: bigint) => BigInt.asUintN(32, v);
    let h = 0n;
    for (const t of [this.tokens.get(position - 2)!, this.tokens.get(position - 1)!]) h = m32((h + BigInt(t) + 0x7f4a7c15n) * 0x9e3779b1n);
    return Number(m32(h * 0x85ebca6bn) >> BigInt(32 - this.slotBits));
  }

  mix(f: Int32Array, top: number, precision: number, position: number): Learning {
    const m = this.match.get(this.segment(position));
    const matched = m && m.length > 0 && this.tokens.has(m.pointer) ? this.tokens.get(m.pointer)! : undefined;
    const slot = this.slot(position);
    const entry = this.cache.get(slot);
    const cached = entry ? { slot, ...entry } : { slot, runs: 0 };
    const token = matched ?? entry?.token;
    if (token === undefined) return { cached };
    const length = matched !== undefined ? m!.length : 0;
    const agrees = entry?.token === token;
    const unit = 2 ** (precision - 16);
    const x = [this.stretch(Math.min(65535, Math.floor(f[token] / unit))), matched !== undefined ? this.stretch(this.hits[length]) : 0, agrees ? this.stretch(this.cacheHits[entry!.runs]) : 0, 256];
    const first = token === top ? 1 : 0;
    const key = matched !== undefined ? `match ${length} ${first} ${agrees}` : `cache ${entry!.runs} ${first}`;
    const w = this.weights.get(key) ?? (matched !== undefined ? [65536, 16384, 16384, 0] : [65536, 0, 16384, 0]);
    const dot = w.reduce((sum, wi, i) => sum + BigInt(wi) * BigInt(x[i]), 0n);
    const d = dot >= 0n ? dot / 65536n : -((-dot + 65535n) / 65536n); // floor
    const p = squash(Number(d));
    const pending = { token, length, key, x, p };
    // The token gets at least p of the total; the others 1 plus their share of what is left above 1s.
    const total = 2n ** BigInt(precision);
    const others = BigInt(f.length - 1);
    const budget = (total - BigInt(p) * BigInt(unit) > others ? total - BigInt(p) * BigInt(unit) : others) - others;
    const above = total - BigInt(f[token]) - others;
    if (above <= 0n) return { pending, cached };
    let used = 0n;
    for (let j = 0; j < f.length; j++) {
      if (j === token) continue;
      f[j] = 1 + Number((BigInt(f[j] - 1) * budget) / above);
      used += BigInt(f[j]);
    }
    f[token] = Number(total - used);
    return { pending, cached };
  }

  learn(position: number, token: number, { pending: q, cached: c }: Learning): void {
    const rate = 2 ** this.s.matchRate;
    if (q) {
      const right = token === q.token ? 65536 : 0;
      const w = this.weights.get(q.key) ?? (q.length > 0 ? [65536, 16384, 16384, 0] : [65536, 0, 16384, 0]);
      this.weights.set(q.key, w.map((wi, i) => Math.min(2 ** 22, Math.max(-(2 ** 22), wi + Math.floor((q.x[i] * (right - q.p)) / 2 ** this.s.learningShift)))));
      if (q.length > 0) this.hits[q.length] += Math.floor(((token === q.token ? 65536 : 0) - this.hits[q.length]) / rate);
    }
    if (c.token !== undefined) this.cacheHits[c.runs] += Math.floor(((token === c.token ? 65536 : 0) - this.cacheHits[c.runs]) / rate);
    // the slot as it is now: in version 3 a row before this one in the step may have changed it since the mix
    const now = this.cache.get(c.slot);
    if (c.slot >= 0) this.cache.set(c.slot, now?.token === token ? { token, runs: Math.min(15, now.runs + 1) } : { token, runs: 0 });
    this.tokens.set(position, token);
    const s = this.segment(position);
    const start = s * this.segmentLength;
    const m = this.match.get(s) ?? { pointer: 0, length: 0 };
    if (m.length > 0 && this.tokens.get(m.pointer) === token) this.match.set(s, { pointer: m.pointer + 1, length: Math.min(15, m.length + 1) });
    else this.match.set(s, { pointer: 0, length: 0 });
    const n = this.s.minMatch;
    const contextAt = (end: number) => Array.from({ length: n }, (_, i) => this.tokens.get(end - n + 1 + i));
    if (position - start + 1 >= n && this.match.get(s)!.length === 0) {
      const mine = contextAt(position).join();
      let earlier = -1;
      for (let i = this.learned.length - 1; i >= 0 && earlier < 0; i--) {
        const p = this.learned[i];
        if (p - this.segment(p) * this.segmentLength + 1 >= n && contextAt(p).join() === mine) earlier = p;
      }
      if (earlier >= 0) {
        let agree = 0;
        while (agree < 15 && position - agree >= start && this.tokens.has(earlier - agree) && this.tokens.get(earlier - agree) === this.tokens.get(position - agree)) agree++;
        this.match.set(s, { pointer: earlier + 1, length: agree });
      }
    }
    this.learned.push(position);
  }
}

test('the mixer computes the same frequencies as an independent implementation, versions 1 to 5, on the tiny model\'s rows', async () => {
  const model = await loadModel('llmc-tiny');
  const doc = tokensOfStr(JSON_TEXT, model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
  const tokens = doc.tokenList.map((t) => t[0]).slice(0, 1500);
  const layout = { contextwindow: 64, precision: DEFAULT_LAYOUT.precision, segmentLength: 400, batch: 3 };
  const freqs = new Frequencies(model.vocabSize, layout.precision);
  // the reference's frequencies of biased weights: TypeScript's arithmetic, where the mixer's may be the addon's
  const plain = new Frequencies(model.vocabSize, layout.precision, undefined);
  const versions = ([1, 2, 3, 4, 5] as const).map((version) => {
    const settings: MixerSettings = version === 5 ? DEFAULT_MIXER : version === 4 ? BIAS_MIXER : { ...MATCH_MIXER, version };
    const waiting: [number, number, Learning, [number, bigint][]][] = [];
    const bias = version >= 4 ? new ReferenceBias(model.vocabSize, settings.biasRate!) : undefined;
    const pairs = version === 5 ? new ReferencePairs(settings.pairRate!) : undefined;
    return { version, mixer: new Mixer(tokens.length, layout.segmentLength, settings, layout.batch), reference: new ReferenceMixer(tokens.length, layout.segmentLength, settings), bias, pairs, waiting, mixed: 0, bits: 0 };
  });
  // the step of a position: its group of segments, and its place in its segment
  const stepOf = (p: number) => Math.floor(p / layout.segmentLength / layout.batch) * layout.segmentLength + (p % layout.segmentLength);
  // the token before a position in its segment (-1: none)
  const previous = (p: number) => (p % layout.segmentLength > 0 ? tokens[p - 1] : -1);
  let bitsModel = 0;
  await walk(model, tokens.length, layout, ({ weights }, pos) => {
    const token = tokens[pos];
    const model = Int32Array.from(freqs.load(weights!).freqs);
    bitsModel -= Math.log2(model[token] / 2 ** layout.precision);
    for (const v of versions) {
      // versions 3 and 4 learn a step's tokens when the next step begins
      if (v.version >= 3 && v.waiting.length > 0 && stepOf(v.waiting[0][0]) !== stepOf(pos)) {
        for (const [position, token, learning, losses] of v.waiting.splice(0)) {
          v.reference.learn(position, token, learning);
          v.pairs?.learn(previous(position), token, losses);
        }
        v.bias?.settle();
      }
      let expected = model.slice();
      if (v.bias) {
        freqs.load(v.mixer.weigh(weights!, pos));
        expected = Int32Array.from(plain.load(v.bias.weigh(weights!, v.pairs?.of(previous(pos)))).freqs);
        assert.equal(freqs.top, plain.top);
      } else freqs.freqs.set(model);
      const learning = v.reference.mix(expected, freqs.top, layout.precision, pos);
      v.mixer.mix(freqs, pos);
      v.bias?.learn(expected, layout.precision, token);
      if (freqs.freqs.some((f, j) => f !== model[j])) v.mixed++;
      assert.deepEqual(freqs.freqs, expected, `version ${v.version}, position ${pos}`);
      assert.equal(freqs.freqs.reduce((a, b) => a + b, 0), 2 ** layout.precision);
      assert.ok(freqs.freqs.every((f) => f >= 1));
      v.bits -= Math.log2(freqs.freqs[token] / 2 ** layout.precision);
      v.mixer.learn(pos, token);
      if (v.version >= 3) v.waiting.push([pos, token, learning, v.pairs?.losses(previous(pos), expected, layout.precision) ?? []]);
      else v.reference.learn(pos, token, learning);
    }
    return token;
  });
  const [first, second, third, fourth, fifth] = versions;
  assert.ok(first.mixed > tokens.length / 4, `the match model predicted ${first.mixed} of ${tokens.length} positions`);
  assert.ok(second.mixed > first.mixed, `with the cache, ${second.mixed} positions mixed against ${first.mixed}`);
  assert.ok(first.bits < 0.8 * bitsModel, `mixed ${first.bits.toFixed(0)} bits against the model's ${bitsModel.toFixed(0)}`);
  assert.ok(second.bits < first.bits, `version 2: ${second.bits.toFixed(0)} bits, version 1: ${first.bits.toFixed(0)}`);
  assert.ok(Math.abs(third.bits - second.bits) < 0.01 * second.bits, `version 3: ${third.bits.toFixed(0)} bits, version 2: ${second.bits.toFixed(0)}`);
  assert.notEqual(third.bits, second.bits, 'version 3 learns later, so some of its numbers differ');
  assert.ok(fourth.bits < 0.99 * third.bits, `version 4: ${fourth.bits.toFixed(0)} bits, version 3: ${third.bits.toFixed(0)}`);
  assert.ok(fifth.bits < fourth.bits, `version 5: ${fifth.bits.toFixed(0)} bits, version 4: ${fourth.bits.toFixed(0)}`);
});

test('the pair bias keeps the same table as the reference over a book\'s tokens, where lists fill and entries are replaced', async () => {
  const model = await loadModel('llmc-tiny');
  const doc = tokensOfStr(SCARLET.subarray(0, 40000), model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
  const tokens = doc.tokenList.map((t) => t[0]);
  const precision = 24, rate = DEFAULT_MIXER.pairRate!;
  const pairs = new PairBias(model.vocabSize, rate), reference = new ReferencePairs(rate);
  // each row's frequencies: the tokens seen so far, one each at least, as a coder's would sum to 2^precision
  const seen = new Float64Array(model.vocabSize).fill(1);
  let replaced = 0;
  for (let pos = 1; pos < tokens.length; pos++) {
    const p = tokens[pos - 1], token = tokens[pos];
    const total = pos - 1 + model.vocabSize;
    const f = Int32Array.from(seen, (n) => Math.floor((n * 2 ** precision) / total));
    // as the mixer keeps them for a plan: the entries' tokens, their c, what each loses
    const count = pairs.countOf(p), entries = new Int32Array(3 * PAIR_ENTRIES);
    pairs.copy(p, entries, 0);
    const held = [...entries.subarray(0, count)];
    assert.deepEqual(held.map((j, i) => [j, BigInt(entries[PAIR_ENTRIES + i])]), [...reference.of(p)], `position ${pos}`);
    if (count === PAIR_ENTRIES && !held.includes(token)) replaced++;
    held.forEach((j, i) => (entries[2 * PAIR_ENTRIES + i] = pairs.loss(f[j], precision)));
    pairs.learn(p, token, entries, 0, count);
    reference.learn(p, token, reference.losses(p, f, precision));
    seen[token]++;
  }
  assert.ok(replaced > 100, `${replaced} entries replaced in full lists`);
});

test('the token bias computes the same rows with the addon as in TypeScript', async (t) => {
  const addon = nativeRows();
  if (!addon) return t.skip('no native addon here');
  const model = await loadModel('llmc-tiny');
  const doc = tokensOfStr(SCARLET.subarray(0, 3000), model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize });
  const tokens = doc.tokenList.map((t) => t[0]);
  const [c, ts] = [addon, undefined].map((engine) => ({ bias: new TokenBias(model.vocabSize, 63, engine), freqs: new Frequencies(model.vocabSize, 24, engine) }));
  let moved = 0;
  await walk(model, tokens.length, { contextwindow: 64, precision: 24, segmentLength: 2048, batch: 1 }, ({ weights }, pos) => {
    for (const side of [c, ts]) side.bias.settle();
    const [a, b] = [c, ts].map((side) => Int32Array.from(side.bias.weigh(weights!)));
    assert.deepEqual(a, b, `position ${pos}`);
    if (a.some((w, j) => w !== weights![j])) moved++;
    for (const side of [c, ts]) side.bias.learn(side.freqs.load(a).freqs, 24, tokens[pos]);
    return tokens[pos];
  });
  assert.ok(moved > tokens.length / 2, `the bias moved ${moved} of ${tokens.length} rows`);
});

test('mixed frames round-trip through llmc and through the stages, and code a repeat almost for free', (t) => {
  // llmc-base, on which the model's frame beats brotli's: a passage of prose, then the same passage again.
  const passage = SCARLET.subarray(0, 3000);
  const twice = Buffer.concat([passage, passage]);
  const once = ok('llmc', ['-q'], passage);
  const mixed = ok('llmc', ['-q'], twice);
  const alone = ok('llmc', ['-q', '--mixer', 'none'], twice);
  const frame = rangeOfFrame(decodeBin(splitRecords(mixed)[0]));
  assert.equal(frame.mode, 'exact');
  assert.deepEqual(frame.mixer, DEFAULT_MIXER);
  assert.ok(mixed.length < once.length + 0.1 * (alone.length - once.length), `twice: ${mixed.length} bytes mixed, ${alone.length} alone; once: ${once.length}`);
  assert.deepEqual(ok('llmc', ['-d', '-q'], mixed), twice);
  const staged = compress(JSON_TEXT.subarray(0, 4000), TINY, ['--coder', 'exact']);
  assert.deepEqual(decompress(staged, TINY), Buffer.from(JSON_TEXT.subarray(0, 4000)));
  const doc = JSON.parse(ok('tokensOfStr', TINY, JSON_TEXT.subarray(0, 500)).toString());
  const ranked = JSON.parse(ok('modelToInx', [...TINY, '--quiet', '--coder', 'exact'], JSON.stringify(doc)).toString());
  assert.deepEqual(ranked.mixer, DEFAULT_MIXER);
  t.diagnostic(`a passage twice: ${mixed.length} bytes mixed, ${alone.length} with the model alone (once: ${once.length})`);
});

test('the pair bias (mixer version 5, the default) and the token bias alone (version 4) round-trip through llmc, in a solo record and in frames, and through the stages', (t) => {
  const text = SCARLET.subarray(0, 12000);
  const v2 = ['-n', 'llmc-tiny-v2'];
  const solo = ok('llmc', ['-q', ...v2], text);
  assert.deepEqual([solo[4], solo[5]], [10, 1 | 2 | 16], 'format 10, a solo record whose mixer is version 5');
  assert.deepEqual(rangeOfFrame(decodeBin(solo)).mixer, DEFAULT_MIXER);
  assert.deepEqual(ok('llmc', ['-d', '-q', ...v2], solo), text);
  // three frames of 4 kB, each with biases of its own; version 4 is written in full
  for (const [mixer, settings] of [['pairs', DEFAULT_MIXER], ['bias', BIAS_MIXER]] as const) {
    const framed = ok('llmc', ['-q', ...v2, '--mixer', mixer, '--block', '4096'], text);
    const records = splitRecords(framed);
    assert.equal(records.length, 4, 'three frames and the end');
    for (const record of records.slice(0, 3)) assert.deepEqual(rangeOfFrame(decodeBin(record)).mixer, settings);
    assert.deepEqual(ok('llmc', ['-d', '-q', ...v2], framed), text);
  }
  const staged = compress(text.subarray(0, 3000), TINY, ['--coder', 'exact']);
  assert.deepEqual(decompress(staged, TINY), Buffer.from(text.subarray(0, 3000)));
  const sizes = ['bias', 'match'].map((mixer) => ok('llmc', ['-q', ...v2, '--mixer', mixer], text).length);
  t.diagnostic(`12 kB of Scarlet with llmc-tiny-v2: ${solo.length} bytes with both biases, ${sizes[0]} with the token bias alone, ${sizes[1]} with neither`);
});

test('a file made by 0.18.1 (format 9: a solo record, the token bias) still decodes to its original', () => {
  // made by `llmc -n llmc-tiny-v2` at commit 83e68ee from bytes 9000..12000 of protobufjs' descriptor.json
  const file = readFileSync(join(ROOT, 'test', 'fixtures', 'descriptor-0.18.1.bin'));
  const frame = rangeOfFrame(decodeBin(splitRecords(file)[0]));
  assert.deepEqual([file[4], file[5], frame.mixer], [9, 1 | 2 | 16, BIAS_MIXER]);
  const original = readFileSync(join(ROOT, 'node_modules', 'protobufjs', 'google', 'protobuf', 'descriptor.json')).subarray(9000, 12000);
  assert.deepEqual(ok('llmc', ['-d', '-q', '-n', 'llmc-tiny-v2'], file), original);
});

test('bad mixer settings in a document are refused in one line', () => {
  const doc = JSON.parse(ok('tokensOfStr', TINY, 'Some text to rank, then break.').toString());
  const ranked = JSON.parse(ok('modelToInx', [...TINY, '--quiet', '--coder', 'exact'], JSON.stringify(doc)).toString());
  for (const [mixer, pattern] of [
    [{ ...DEFAULT_MIXER, version: 6 }, /mixer version 6 is unknown to this build \(it reads versions 1 to 5\)/],
    [{ ...MATCH_MIXER, version: 4 }, /mixer setting biasRate must be an integer in 1\.\.63/],
    [{ ...MATCH_MIXER, biasRate: 26 }, /mixer version 3 has no biasRate/],
    [{ ...BIAS_MIXER, pairRate: 77 }, /mixer version 4 has no pairRate/],
    [{ ...BIAS_MIXER, version: 5 }, /mixer setting pairRate must be an integer in 1\.\.255/],
    [{ ...DEFAULT_MIXER, minMatch: 1e9 }, /minMatch must be an integer in 1\.\.15/],
    [{ ...DEFAULT_MIXER, extra: 1 }, /unknown mixer setting "extra"/],
    ['match', /the mixer settings are not a JSON object/],
  ] as const) {
    const r = stage('rangeEncode', [], JSON.stringify({ ...ranked, mixer }));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a file made by 0.6.0 (format 5, the mixer of version 1) still decodes to its original', () => {
  // made by `llmc -n llmc-tiny-v2` at commit 163a7cb from bytes 3000..6000 of protobufjs' descriptor.json
  const file = readFileSync(join(ROOT, 'test', 'fixtures', 'descriptor-0.6.0.bin'));
  const frame = rangeOfFrame(decodeBin(splitRecords(file)[0]));
  assert.deepEqual([file[4], frame.mixer], [5, { version: 1, minMatch: 3, learningShift: 13, matchRate: 4 }]);
  const original = readFileSync(join(ROOT, 'node_modules', 'protobufjs', 'google', 'protobuf', 'descriptor.json')).subarray(3000, 6000);
  assert.deepEqual(ok('llmc', ['-d', '-q', '-n', 'llmc-tiny-v2'], file), original);
});

test('a file made by 0.10.0 (format 7: a solo record, the mixer of version 2, one lane) still decodes to its original', () => {
  // made by `llmc -n llmc-tiny-v2` at commit 9ea2755 from bytes 6000..9000 of protobufjs' descriptor.json
  const file = readFileSync(join(ROOT, 'test', 'fixtures', 'descriptor-0.10.0.bin'));
  const frame = rangeOfFrame(decodeBin(splitRecords(file)[0]));
  assert.deepEqual([file[4], file[5], frame.mixer, frame.lanes], [7, 1 | 2 | 16, { version: 2, minMatch: 3, learningShift: 13, matchRate: 4 }, 1]);
  const original = readFileSync(join(ROOT, 'node_modules', 'protobufjs', 'google', 'protobuf', 'descriptor.json')).subarray(6000, 9000);
  assert.deepEqual(ok('llmc', ['-d', '-q', '-n', 'llmc-tiny-v2'], file), original);
});

test('a solo record goes through the decoder stages, and binOfRange writes the same record again', () => {
  const text = JSON_TEXT.subarray(0, 2000);
  const solo = ok('llmc', ['-q', '-n', 'llmc-tiny-v2'], text);
  assert.equal(solo[5] & 1, 1, 'llmc wrote a solo record');
  // it names no model: -l shows the shipped one whose fingerprint it begins with
  assert.deepEqual(ok('llmc', ['-l'], solo).toString().split('\n')[1].split('\t').slice(0, 7), [String(solo.length), '2000', `${((100 * solo.length) / 2000).toFixed(2)}%`, ((8 * solo.length) / 2000).toFixed(3), '1', 'exact', 'llmc-tiny-v2']);
  const ranged = ok('binToRange', [], solo);
  assert.match(JSON.parse(ranged.toString()).sha256, /^[0-9a-f]{8}$/);
  assert.deepEqual(ok('binOfRange', [], ranged), solo);
  const v2 = ['-n', 'llmc-tiny-v2'];
  assert.deepEqual(ok('tokensToStr', v2, ok('tokensOfRange', ['--quiet', ...v2], ranged)), Buffer.from(text));
});
