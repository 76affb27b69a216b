import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RansDecoder,
  buildStaticTable,
  createCumLookup,
  decodeTable,
  encodeTable,
  ransEncode,
  scaleCounts,
  tableFromCounts,
} from '../src/ans.ts';

/** Small seeded PRNG so failures reproduce. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Shape = 'uniform' | 'skewed';

/** A random distribution over k symbols as freqs summing to 2^scaleBits (every freq ≥ 1), like one LM step. */
function randomFreqs(rng: () => number, k: number, scaleBits: number, shape: Shape): number[] {
  const total = 2 ** scaleBits;
  // Skewed: Zipf-like weights with a random exponent, shuffled so the big symbol is not always first.
  const weights = Array.from({ length: k }, (_, i) => (shape === 'uniform' ? 1 : 1 / (i + 1) ** (1 + 2 * rng())));
  for (let i = k - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [weights[i], weights[j]] = [weights[j], weights[i]];
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  const freqs = weights.map((w) => Math.max(1, Math.floor((w / sum) * (total - k))));
  let assigned = freqs.reduce((a, b) => a + b, 0);
  for (let i = 0; assigned < total; i = (i + 1) % k, assigned++) freqs[i]++;
  return freqs;
}

function startsOf(freqs: number[]): number[] {
  const starts: number[] = [];
  let cum = 0;
  for (const f of freqs) {
    starts.push(cum);
    cum += f;
  }
  return starts;
}

/** Index of the interval holding cum, by a plain scan (an independent check of createCumLookup). */
function intervalAt(starts: number[], cum: number): number {
  let i = starts.length - 1;
  while (starts[i] > cum) i--;
  return i;
}

function sample(rng: () => number, freqs: number[], total: number): number {
  let u = Math.floor(rng() * total);
  for (let i = 0; i < freqs.length; i++) {
    if (u < freqs[i]) return i;
    u -= freqs[i];
  }
  throw new Error('unreachable: freqs do not sum to total');
}

interface Trial {
  symbols: number[];
  words: Uint16Array;
  infoBits: number;
}

interface Dist {
  freqs: number[];
  starts: number[];
}

/**
 * A model stand-in: at every step it picks one of many random distributions, so consecutive symbols use
 * different tables, and it is replayed from the same seed on the decoding side one step at a time.
 */
function makeModel(seed: number, scaleBits: number, shape: Shape, alphabet: number): () => Dist {
  const rng = mulberry32(seed);
  const k = Math.min(alphabet, 2 ** scaleBits);
  const pool = Array.from({ length: 128 }, () => {
    const freqs = randomFreqs(rng, k, scaleBits, shape);
    return { freqs, starts: startsOf(freqs) };
  });
  return () => pool[Math.floor(rng() * pool.length)];
}

function encodeTrial(n: number, scaleBits: number, shape: Shape, seed: number, alphabet = 64): Trial {
  const next = makeModel(seed, scaleBits, shape, alphabet);
  const symRng = mulberry32(seed ^ 0x9e3779b9);
  const total = 2 ** scaleBits;
  const starts = new Array<number>(n);
  const freqs = new Array<number>(n);
  const symbols = new Array<number>(n);
  let infoBits = 0;
  for (let i = 0; i < n; i++) {
    const dist = next();
    const sym = sample(symRng, dist.freqs, total);
    symbols[i] = sym;
    starts[i] = dist.starts[sym];
    freqs[i] = dist.freqs[sym];
    infoBits -= Math.log2(freqs[i] / total);
  }
  return { symbols, words: ransEncode(starts, freqs, scaleBits), infoBits };
}

function decodeTrial(words: Uint16Array, n: number, scaleBits: number, shape: Shape, seed: number, alphabet = 64): number[] {
  const next = makeModel(seed, scaleBits, shape, alphabet);
  const dec = new RansDecoder(words, scaleBits);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const { starts, freqs } = next();
    const cum = dec.peek();
    const sym = intervalAt(starts, cum);
    dec.advance(starts[sym], freqs[sym]);
    out.push(sym);
  }
  dec.finish();
  return out;
}

for (const scaleBits of [8, 16, 24, 31]) {
  for (const shape of ['uniform', 'skewed'] as const) {
    test(`rANS round trip with a new distribution per symbol: scaleBits ${scaleBits}, ${shape}`, () => {
      for (const [n, seed] of [[0, 1], [1, 2], [2, 3], [3000, 4]]) {
        const trial = encodeTrial(n, scaleBits, shape, seed);
        assert.deepEqual(decodeTrial(trial.words, n, scaleBits, shape, seed), trial.symbols);
      }
    });
  }
}

test('rANS round trip of 100k symbols stays within 0.1% of the Shannon information', () => {
  for (const scaleBits of [8, 16, 24]) {
    for (const shape of ['uniform', 'skewed'] as const) {
      const n = 100_000;
      const trial = encodeTrial(n, scaleBits, shape, 7, 16);
      assert.deepEqual(decodeTrial(trial.words, n, scaleBits, shape, 7, 16), trial.symbols);
      const bits = 16 * trial.words.length;
      assert.ok(bits <= trial.infoBits * 1.001 + 16 * 4, `${scaleBits}/${shape}: ${bits} bits for ${trial.infoBits.toFixed(0)} bits of information`);
      assert.ok(bits >= trial.infoBits - 16 * 4, `${scaleBits}/${shape}: ${bits} bits is below the information content`);
    }
  }
});

test('rANS at scaleBits 31 still round-trips with little overhead', () => {
  // With M = 2^31 = L the quotient x / freq can be as small as 1, so rounding costs a little more (≈0.1%).
  const n = 100_000;
  const trial = encodeTrial(n, 31, 'skewed', 8, 16);
  assert.deepEqual(decodeTrial(trial.words, n, 31, 'skewed', 8, 16), trial.symbols);
  assert.ok(16 * trial.words.length <= trial.infoBits * 1.005 + 64);
});

test('interleaved rANS: each lane\'s next value is known before any symbol of the step is decoded', () => {
  // Symbols of 7 rows stepped together (row i % 7 → lane), as the coder graph codes them; the decoder peeks every
  // lane of a step first and advances them afterwards, as a device that answers all rows in one call needs.
  const lanes = 7, n = 7 * 500, scaleBits = 24, rng = mulberry32(21);
  const tables = Array.from({ length: n }, () => randomFreqs(rng, 50, scaleBits, 'skewed'));
  const symbols = tables.map((freqs) => Math.floor(rng() * freqs.length));
  const laneOf = symbols.map((_, i) => i % lanes);
  const words = ransEncode(symbols.map((s, i) => startsOf(tables[i])[s]), symbols.map((s, i) => tables[i][s]), scaleBits, laneOf, lanes);
  const single = ransEncode(symbols.map((s, i) => startsOf(tables[i])[s]), symbols.map((s, i) => tables[i][s]), scaleBits);
  assert.ok(words.length <= single.length + 3 * lanes, `${words.length} words with ${lanes} lanes, ${single.length} with one`);
  const decoder = new RansDecoder(words, scaleBits, lanes);
  for (let step = 0; step < n / lanes; step++) {
    const values = Array.from({ length: lanes }, (_, lane) => decoder.peek(lane));
    values.forEach((value, lane) => {
      const i = step * lanes + lane;
      const starts = startsOf(tables[i]);
      const symbol = intervalAt(starts, value);
      assert.equal(symbol, symbols[i], `symbol ${i}`);
      decoder.advance(starts[symbol], tables[i][symbol], lane);
    });
  }
  decoder.finish();
  assert.throws(() => ransEncode([0], [1], 8, [3], 2), /lane 3, outside 0..1/);
  assert.throws(() => new RansDecoder(words, scaleBits, lanes + 1).finish(), /corrupt rANS stream|ended early/);
});

test('rANS of no symbols is just the flushed initial state', () => {
  const words = ransEncode([], [], 16);
  assert.deepEqual([...words], [0x8000, 0x0000]);
  new RansDecoder(words, 16).finish();
});

test('rANS symbols of certainty (freq = 2^s) cost nothing', () => {
  const n = 1000;
  const words = ransEncode(new Array(n).fill(0), new Array(n).fill(2 ** 20), 20);
  assert.equal(words.length, 2);
  const dec = new RansDecoder(words, 20);
  for (let i = 0; i < n; i++) dec.advance(0, 2 ** 20);
  dec.finish();
});

test('rANS decoder refuses a stream cut at any length', () => {
  const n = 200;
  const trial = encodeTrial(n, 12, 'skewed', 11);
  for (let len = 0; len < trial.words.length; len++) {
    assert.throws(() => decodeTrial(trial.words.slice(0, len), n, 12, 'skewed', 11), /ended early|invalid initial state/, `length ${len}`);
  }
});

test('rANS decoder refuses extra words and damaged words at the end', () => {
  const n = 200;
  const trial = encodeTrial(n, 12, 'skewed', 12);
  const longer = Uint16Array.from([...trial.words, 0x1234]);
  assert.throws(() => decodeTrial(longer, n, 12, 'skewed', 12), /1 word\(s\) left/);
  const damaged = trial.words.slice();
  damaged[damaged.length - 1] ^= 0x0100;
  assert.throws(() => decodeTrial(damaged, n, 12, 'skewed', 12), /final state mismatch|ended early/);
  // Decoding fewer symbols than were encoded leaves the state and words unconsumed.
  assert.throws(() => decodeTrial(trial.words, n - 1, 12, 'skewed', 12), /corrupt rANS stream/);
});

test('rANS validates its arguments', () => {
  assert.throws(() => ransEncode([0], [0], 8), /invalid interval start=0 freq=0/);
  assert.throws(() => ransEncode([200], [57], 8), /start \+ freq ≤ 256/);
  assert.throws(() => ransEncode([-1], [2], 8), /invalid interval/);
  assert.throws(() => ransEncode([0.5], [2], 8), /invalid interval/);
  assert.throws(() => ransEncode([0, 1], [1], 8), /2 starts but 1 freqs/);
  assert.throws(() => ransEncode([], [], 0), /scaleBits must be an integer in 1..31/);
  assert.throws(() => ransEncode([], [], 32), /scaleBits/);
  assert.throws(() => new RansDecoder(Uint16Array.of(0, 0x8000, 0), 16), /invalid initial state/);
  const dec = new RansDecoder(ransEncode([10], [5], 8), 8);
  assert.equal(dec.peek() >= 10 && dec.peek() < 15, true);
  assert.throws(() => dec.advance(20, 5), /does not contain the decoded value/);
  assert.throws(() => dec.advance(10, 0), /invalid interval/);
  dec.advance(10, 5);
  dec.finish();
});

test('scaleCounts matches the specified algorithm on a known vector', () => {
  // n = 4, spare = 16 - 4 = 12, total = 10: shares 6 r0, 3 r6, 1 r2, 1 r2; the missing unit goes to remainder 6.
  assert.deepEqual(scaleCounts([5, 3, 1, 1], 4), [7, 5, 2, 2]);
  assert.deepEqual(scaleCounts([1, 1, 1], 2), [2, 1, 1]);
  assert.deepEqual(scaleCounts([], 8), []);
});

test('scaleCounts sums to 2^s with every freq ≥ 1, also for counts past 2^32', () => {
  const rng = mulberry32(5);
  for (const scaleBits of [8, 16, 24, 31]) {
    const counts = Array.from({ length: 200 }, () => 1 + Math.floor(rng() ** 8 * 2 ** 40)).sort((a, b) => b - a);
    const freqs = scaleCounts(counts, scaleBits);
    assert.equal(freqs.reduce((a, b) => a + b, 0), 2 ** scaleBits);
    assert.ok(freqs.every((f) => Number.isInteger(f) && f >= 1));
    for (let i = 1; i < freqs.length; i++) assert.ok(freqs[i] <= freqs[i - 1] + 1, 'larger counts never get clearly smaller freqs');
  }
  assert.throws(() => scaleCounts([1, 1, 1], 1), /3 distinct symbols do not fit in 2\^1/);
  assert.throws(() => scaleCounts([2, 0], 8), /count 1 is 0/);
});

test('static table: canonical order and a round trip with negative symbols', () => {
  const rng = mulberry32(9);
  // Rank mode: hits of rank r are -1-r (mostly small ranks), misses are raw token ids.
  const symbols = Array.from({ length: 20_000 }, () => (rng() < 0.9 ? -1 - Math.floor(rng() ** 3 * 50) : Math.floor(rng() * 50_000)));
  for (const scaleBits of [16, 20]) {
    const table = buildStaticTable(Int32Array.from(symbols), scaleBits);
    for (let i = 1; i < table.inxToSym.length; i++) {
      const [c0, c1] = [table.counts[i - 1], table.counts[i]];
      assert.ok(c0 > c1 || (c0 === c1 && table.inxToSym[i - 1] < table.inxToSym[i]), `order at ${i}`);
    }
    assert.equal(table.counts.reduce((a, b) => a + b, 0), symbols.length);
    assert.equal(table.inxToSym[0], -1, 'rank 0 is the most frequent');

    const indexOf = new Map(table.inxToSym.map((s, i) => [s, i]));
    const idx = symbols.map((s) => indexOf.get(s)!);
    const words = ransEncode(idx.map((i) => table.starts[i]), idx.map((i) => table.freqs[i]), scaleBits);

    // The decoder sees only the serialised symbols and counts.
    const sent = decodeTable(encodeTable(table.inxToSym, table.counts));
    const rebuilt = tableFromCounts(sent.inxToSym, sent.counts, scaleBits);
    assert.deepEqual(rebuilt, table);
    const lookup = createCumLookup(rebuilt, scaleBits);
    const dec = new RansDecoder(words, scaleBits);
    const out = symbols.map(() => {
      const i = lookup(dec.peek());
      dec.advance(rebuilt.starts[i], rebuilt.freqs[i]);
      return rebuilt.inxToSym[i];
    });
    dec.finish();
    assert.deepEqual(out, symbols);
  }
});

test('static table edge cases', () => {
  const empty = buildStaticTable([], 8);
  assert.deepEqual(empty, { inxToSym: [], counts: [], freqs: [], starts: [] });
  assert.throws(() => createCumLookup(empty, 8), /do not cover/);
  const one = buildStaticTable([-7, -7, -7], 8);
  assert.deepEqual(one.freqs, [256]);
  assert.deepEqual(buildStaticTable([3, 1, 2, 1, 3], 8).inxToSym, [1, 3, 2]);
  assert.throws(() => buildStaticTable([0, 1, 2], 1), /3 distinct symbols/);
  assert.throws(() => buildStaticTable([2 ** 31], 8), /32-bit signed integer/);
  assert.throws(() => buildStaticTable([1.5], 8), /32-bit signed integer/);
});

test('cumulative lookup agrees between the direct table and binary search', () => {
  const freqs = scaleCounts([9, 5, 5, 2, 1, 1, 1], 10);
  const starts = startsOf(freqs);
  const direct = createCumLookup({ starts, freqs }, 10);
  for (let cum = 0; cum < 1024; cum++) {
    const expected = intervalAt(starts, cum);
    assert.equal(direct(cum), expected);
  }
  const wide = scaleCounts([9, 5, 5, 2, 1, 1, 1], 20);
  const wideStarts = startsOf(wide);
  const search = createCumLookup({ starts: wideStarts, freqs: wide }, 20);
  for (let i = 0; i < wide.length; i++) {
    assert.equal(search(wideStarts[i]), i);
    assert.equal(search(wideStarts[i] + wide[i] - 1), i);
  }
});

test('table serialisation: known bytes and round trip', () => {
  // n=3; symbols -1 → 1, -300 → 599 = 0xd7 0x04, 5 → 10; counts 200 = 0xc8 0x01, then decreases 199, 0.
  const bytes = encodeTable([-1, -300, 5], [200, 1, 1]);
  assert.deepEqual([...bytes], [3, 1, 0xd7, 0x04, 10, 0xc8, 0x01, 199, 0x01, 0]);
  const decoded = decodeTable(Uint8Array.from([...bytes, 0xaa, 0xbb]));
  assert.deepEqual(decoded, { inxToSym: [-1, -300, 5], counts: [200, 1, 1], bytesRead: bytes.length });

  const big = { inxToSym: [-(2 ** 31), 2 ** 31 - 1, 0], counts: [2 ** 45, 2 ** 40, 7] };
  assert.deepEqual(decodeTable(encodeTable(big.inxToSym, big.counts)), { ...big, bytesRead: encodeTable(big.inxToSym, big.counts).length });
  assert.deepEqual(decodeTable(encodeTable([], [])), { inxToSym: [], counts: [], bytesRead: 1 });
  assert.throws(() => encodeTable([1, 2], [1, 2]), /canonical order/);
  assert.throws(() => encodeTable([2, 1], [1, 1]), /canonical order/);
  assert.throws(() => encodeTable([1], [1, 2]), /1 symbols but 2 counts/);
});

test('table deserialisation refuses truncated and malformed input', () => {
  const bytes = encodeTable([-1, -2, 17, 40_000], [1000, 300, 300, 2]);
  for (let len = 0; len < bytes.length; len++) {
    assert.throws(() => decodeTable(bytes.subarray(0, len)), /truncated/, `length ${len}`);
  }
  // A huge announced size is refused before anything is allocated.
  assert.throws(() => decodeTable(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1)), /symbols announced/);
  assert.throws(() => decodeTable(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), /varint too long/);
  assert.throws(() => decodeTable(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), /out of range/);
  assert.throws(() => decodeTable(Uint8Array.of(1, 0x80, 0x80, 0x80, 0x80, 0x10, 1)), /out of int32 range/);
  assert.throws(() => decodeTable(Uint8Array.of(2, 2, 2, 5, 0)), /appears twice/);
  assert.throws(() => decodeTable(Uint8Array.of(2, 4, 2, 5, 0)), /canonical order/);
  assert.throws(() => decodeTable(Uint8Array.of(1, 2, 0)), /zero count/);
  assert.throws(() => decodeTable(Uint8Array.of(2, 2, 4, 5, 5)), /not positive/);

  // Random garbage either throws a clear error or parses within its bounds, and never hangs.
  const rng = mulberry32(3);
  for (let k = 0; k < 2000; k++) {
    const junk = Uint8Array.from({ length: 1 + Math.floor(rng() * 40) }, () => Math.floor(rng() * 256));
    try {
      const t = decodeTable(junk);
      assert.ok(t.bytesRead <= junk.length);
    } catch (err) {
      assert.match((err as Error).message, /symbol table/);
    }
  }
});
