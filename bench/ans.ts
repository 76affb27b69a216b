// Micro-benchmark: rANS encode and decode throughput for 1e6 symbols drawn from random 16k-symbol tables
// (scaleBits 24). Run with: node --import tsx bench/ans.ts
import { RansDecoder, createCumLookup, ransEncode, scaleCounts } from '../src/ans.ts';

const SYMBOLS = 1_000_000;
const ALPHABET = 16_384;
const SCALE_BITS = 24;
const TABLES = 16;

let seed = 42;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
}

// Zipf-like tables, as a language model's next-token distributions are.
const tables = Array.from({ length: TABLES }, () => {
  const counts = Array.from({ length: ALPHABET }, (_, i) => 1 + Math.floor(1e7 / (i + 1) ** (0.8 + random())));
  const freqs = scaleCounts(counts, SCALE_BITS);
  const starts: number[] = [];
  let cum = 0;
  for (const f of freqs) {
    starts.push(cum);
    cum += f;
  }
  return { freqs, starts, lookup: createCumLookup({ freqs, starts }, SCALE_BITS) };
});

// Each symbol uses a different table, sampled by its cumulative frequency.
const tableOf = new Uint8Array(SYMBOLS);
const starts = new Float64Array(SYMBOLS);
const freqs = new Float64Array(SYMBOLS);
for (let i = 0; i < SYMBOLS; i++) {
  const t = tables[(tableOf[i] = Math.floor(random() * TABLES))];
  const sym = t.lookup(Math.floor(random() * 2 ** SCALE_BITS));
  starts[i] = t.starts[sym];
  freqs[i] = t.freqs[sym];
}

function time<T>(label: string, fn: () => T): T {
  let result = fn(); // warm-up
  const runs = 5;
  const t0 = performance.now();
  for (let k = 0; k < runs; k++) result = fn();
  const seconds = (performance.now() - t0) / 1000 / runs;
  console.log(`${label}: ${(SYMBOLS / seconds / 1e6).toFixed(2)} M symbols/s`);
  return result;
}

const words = time('encode', () => ransEncode(starts, freqs, SCALE_BITS));
console.log(`  ${words.length} words, ${((16 * words.length) / SYMBOLS).toFixed(3)} bits/symbol`);

time('decode (peek + advance only)', () => {
  const dec = new RansDecoder(words, SCALE_BITS);
  for (let i = 0; i < SYMBOLS; i++) {
    dec.peek();
    dec.advance(starts[i], freqs[i]);
  }
  dec.finish();
});

time('decode (with symbol lookup)', () => {
  const dec = new RansDecoder(words, SCALE_BITS);
  for (let i = 0; i < SYMBOLS; i++) {
    const t = tables[tableOf[i]];
    const sym = t.lookup(dec.peek());
    dec.advance(t.starts[sym], t.freqs[sym]);
  }
  dec.finish();
});
