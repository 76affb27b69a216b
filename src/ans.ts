// rANS entropy coder with 16-bit renormalisation, in plain JS numbers (doubles, no BigInt on the hot path).
//
// The state x lives in [L, L·2^16) = [2^31, 2^47). With a precision of s bits (M = 2^s) every intermediate
// value stays below 2^47, far inside the 2^53 range where doubles hold integers exactly. Bitwise operators
// are avoided on the state because they truncate to 32 bits.

const RANS_L = 2 ** 31;
const WORD = 2 ** 16;

function checkScaleBits(scaleBits: number): number {
  if (!Number.isInteger(scaleBits) || scaleBits < 1 || scaleBits > 31) {
    throw new Error(`rANS scaleBits must be an integer in 1..31, got ${scaleBits}`);
  }
  return 2 ** scaleBits;
}

function badInterval(what: string, start: number, freq: number, total: number): Error {
  return new Error(`${what}: invalid interval start=${start} freq=${freq} (need integers, freq ≥ 1, start + freq ≤ ${total})`);
}

/**
 * Encodes symbols given as intervals [starts[i], starts[i] + freqs[i]) out of 2^scaleBits, in forward order;
 * each symbol may come from a different table. rANS is LIFO, so the symbols are coded last to first and the
 * word stream is reversed, letting RansDecoder read the symbols first to last.
 *
 * Interleaving: symbol i goes through the state of lane lanes[i] (of laneCount; default: one lane). The lanes
 * share one word stream, so a decoder can know every lane's next value at once, before it decodes any of
 * them: what a device that answers all rows of a step in one call needs.
 *
 * The stream opens with the final encoder states, lane 0 first, each written big-endian in the fewest 16-bit
 * words (2 or 3, as a state is below 2^47 and at least 2^31), which the decoder reads with its ordinary
 * renormalisation loop.
 */
export function ransEncode(starts: ArrayLike<number>, freqs: ArrayLike<number>, scaleBits: number, lanes?: ArrayLike<number>, laneCount = 1): Uint16Array {
  const total = checkScaleBits(scaleBits);
  const n = starts.length;
  if (freqs.length !== n) throw new Error(`ransEncode: ${n} starts but ${freqs.length} freqs`);
  // Each symbol emits at most 2 words (the state shrinks from < 2^47 to < 2^15 in two steps), a flush ≤ 3.
  const out = new Uint16Array(2 * n + 3 * laneCount);
  let used = 0;
  // x_max(freq) = (L / M) · 2^16 · freq: keeping x below it before coding keeps the coded state below 2^47.
  const xMaxPerFreq = (RANS_L / total) * WORD;
  const states = new Array<number>(laneCount).fill(RANS_L);
  for (let i = n - 1; i >= 0; i--) {
    const lane = lanes ? lanes[i] : 0;
    if (!(lane >= 0 && lane < laneCount)) throw new Error(`ransEncode: symbol ${i} has lane ${lane}, outside 0..${laneCount - 1}`);
    let x = states[lane];
    const start = starts[i];
    const freq = freqs[i];
    if (!(Number.isInteger(start) && Number.isInteger(freq) && freq >= 1 && start >= 0 && start + freq <= total)) {
      throw badInterval(`ransEncode: symbol ${i}`, start, freq, total);
    }
    const xMax = xMaxPerFreq * freq;
    while (x >= xMax) {
      const low = x % WORD;
      out[used++] = low;
      x = (x - low) / WORD;
    }
    // x = floor(x / freq) · M + x mod freq + start; x - r is a multiple of freq, so the division is exact.
    const r = x % freq;
    states[lane] = ((x - r) / freq) * total + r + start;
  }
  for (let lane = laneCount - 1; lane >= 0; lane--) {
    for (let x = states[lane]; x > 0; ) {
      const low = x % WORD;
      out[used++] = low;
      x = (x - low) / WORD;
    }
  }
  return out.slice(0, used).reverse();
}

/**
 * Streaming rANS decoder: peek(lane) gives the cumulative value identifying the lane's next symbol; the caller
 * finds the symbol's interval in its current table and calls advance(start, freq, lane), in the order the
 * encoder was given the symbols. finish() checks the end of the stream.
 */
export class RansDecoder {
  private readonly words: Uint16Array;
  private readonly total: number;
  private pos = 0;
  private readonly states: number[];

  constructor(words: Uint16Array, scaleBits: number, laneCount = 1) {
    this.total = checkScaleBits(scaleBits);
    this.words = words;
    // The encoder writes its final states in the fewest words, so a leading zero word cannot be ours.
    if (words.length > 0 && words[0] === 0) throw new Error('corrupt rANS stream: invalid initial state');
    this.states = new Array<number>(laneCount).fill(0);
    for (let lane = 0; lane < laneCount; lane++) this.refill(lane);
  }

  /** The value in [0, 2^scaleBits) that falls inside the lane's next symbol's interval. */
  peek(lane = 0): number {
    return this.states[lane] % this.total;
  }

  /** Consumes the lane's symbol occupying [start, start + freq), which must contain peek(lane). */
  advance(start: number, freq: number, lane = 0): void {
    const total = this.total;
    if (!(Number.isInteger(start) && Number.isInteger(freq) && freq >= 1 && start >= 0 && start + freq <= total)) {
      throw badInterval('RansDecoder.advance', start, freq, total);
    }
    const x = this.states[lane];
    const cum = x % total;
    if (cum < start || cum >= start + freq) {
      throw new Error(`RansDecoder.advance: interval [${start}, ${start + freq}) does not contain the decoded value ${cum}`);
    }
    this.states[lane] = freq * ((x - cum) / total) + cum - start;
    this.refill(lane);
  }

  /** Throws unless every word was consumed and every state returned to the encoder's initial state. */
  finish(): void {
    const left = this.words.length - this.pos;
    if (left > 0) throw new Error(`corrupt rANS stream: ${left} word(s) left after the last symbol`);
    if (this.states.some((x) => x !== RANS_L)) throw new Error('corrupt rANS stream: final state mismatch (damaged data or a different model)');
  }

  private refill(lane: number): void {
    const words = this.words;
    let x = this.states[lane];
    while (x < RANS_L) {
      if (this.pos >= words.length) throw new Error('rANS stream ended early (truncated or corrupt data)');
      x = x * WORD + words[this.pos++];
    }
    this.states[lane] = x;
  }
}

// ---- Static tables ("rank mode"): one table of symbol counts for the whole stream, sent in the file. ----

export interface StaticTable {
  /** Distinct symbols, by count descending, ties by symbol ascending. */
  inxToSym: number[];
  /** Raw occurrence counts, same order. */
  counts: number[];
  /** Counts scaled to sum to exactly 2^scaleBits, every entry ≥ 1. */
  freqs: number[];
  /** Cumulative freqs: symbol i occupies [starts[i], starts[i] + freqs[i]). */
  starts: number[];
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Counts the symbols (int32, negatives allowed) and builds their coding table. */
export function buildStaticTable(symbols: Int32Array | number[], scaleBits: number): StaticTable {
  const countBySymbol = new Map<number, number>();
  for (let i = 0; i < symbols.length; i++) {
    const sym = symbols[i];
    if (!Number.isInteger(sym) || sym < INT32_MIN || sym > INT32_MAX) {
      throw new Error(`buildStaticTable: symbol ${i} is ${sym}, expected a 32-bit signed integer`);
    }
    countBySymbol.set(sym, (countBySymbol.get(sym) ?? 0) + 1);
  }
  const entries = [...countBySymbol].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return tableFromCounts(
    entries.map((e) => e[0]),
    entries.map((e) => e[1]),
    scaleBits,
  );
}

/** Rebuilds the table from its transmitted part (symbols and counts), exactly as the encoder built it. */
export function tableFromCounts(inxToSym: number[], counts: number[], scaleBits: number): StaticTable {
  if (inxToSym.length !== counts.length) {
    throw new Error(`static table: ${inxToSym.length} symbols but ${counts.length} counts`);
  }
  const freqs = scaleCounts(counts, scaleBits);
  const starts = new Array<number>(freqs.length);
  let cum = 0;
  for (let i = 0; i < freqs.length; i++) {
    starts[i] = cum;
    cum += freqs[i];
  }
  return { inxToSym, counts, freqs, starts };
}

/**
 * Scales positive integer counts to frequencies summing to exactly 2^scaleBits, each ≥ 1: every symbol first
 * gets 1, the remaining 2^s − n are shared in proportion to the counts (floored), and the few units lost to
 * flooring go one each to the largest remainders (ties to the lower index). Exact integer arithmetic
 * (BigInt, as count · 2^s may pass 2^53) so both sides agree bit for bit; docs/FORMAT.md specifies it.
 */
export function scaleCounts(counts: ArrayLike<number>, scaleBits: number): number[] {
  const total = checkScaleBits(scaleBits);
  const n = counts.length;
  if (n > total) throw new Error(`static table: ${n} distinct symbols do not fit in 2^${scaleBits} = ${total} slots`);
  if (n === 0) return [];
  let sum = 0n;
  for (let i = 0; i < n; i++) {
    const c = counts[i];
    if (!Number.isSafeInteger(c) || c < 1) throw new Error(`static table: count ${i} is ${c}, expected a positive integer`);
    sum += BigInt(c);
  }
  const spare = BigInt(total - n);
  const freqs = new Array<number>(n);
  const remainders = new Array<bigint>(n);
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    const share = BigInt(counts[i]) * spare;
    freqs[i] = 1 + Number(share / sum);
    remainders[i] = share % sum;
    assigned += freqs[i];
  }
  const shortfall = total - assigned; // < n, since each floor loses less than 1
  if (shortfall > 0) {
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (remainders[b] > remainders[a] ? 1 : remainders[b] < remainders[a] ? -1 : a - b));
    for (let k = 0; k < shortfall; k++) freqs[order[k]]++;
  }
  return freqs;
}

/**
 * Returns a function mapping a cumulative value (RansDecoder.peek()) to the index of the symbol whose interval
 * holds it: a direct table when 2^scaleBits ≤ 2^16, else a binary search over the starts.
 */
export function createCumLookup(table: Pick<StaticTable, 'starts' | 'freqs'>, scaleBits: number): (cum: number) => number {
  const total = checkScaleBits(scaleBits);
  const { starts, freqs } = table;
  const n = starts.length;
  if (n === 0 || starts[n - 1] + freqs[n - 1] !== total) {
    throw new Error(`static table: freqs do not cover 2^${scaleBits} exactly`);
  }
  if (scaleBits <= 16) {
    const indexByCum = new Uint16Array(total);
    for (let i = 0; i < n; i++) indexByCum.fill(i, starts[i], starts[i] + freqs[i]);
    return (cum) => indexByCum[cum];
  }
  return (cum) => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= cum) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
}

// ---- Compact table serialisation: LEB128 varints, zigzag symbols, counts delta-coded downwards. ----

const MAX_VARINT_BYTES = 8; // 56 bits: covers every safe integer

export function pushVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

const zigzag = (v: number): number => (v >= 0 ? 2 * v : -2 * v - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/**
 * Serialises a static table: varint n, then n zigzag varint symbols, then counts[0] and the n − 1 decreases
 * counts[i−1] − counts[i] as varints. Expects the canonical order buildStaticTable produces.
 */
export function encodeTable(inxToSym: number[], counts: number[]): Uint8Array {
  const n = inxToSym.length;
  if (counts.length !== n) throw new Error(`encodeTable: ${n} symbols but ${counts.length} counts`);
  const out: number[] = [];
  pushVarint(out, n);
  for (let i = 0; i < n; i++) {
    const sym = inxToSym[i];
    if (!Number.isInteger(sym) || sym < INT32_MIN || sym > INT32_MAX) throw new Error(`encodeTable: symbol ${i} is ${sym}, expected int32`);
    pushVarint(out, zigzag(sym));
  }
  for (let i = 0; i < n; i++) {
    const c = counts[i];
    if (!Number.isSafeInteger(c) || c < 1) throw new Error(`encodeTable: count ${i} is ${c}, expected a positive integer`);
    if (i > 0 && !(c < counts[i - 1] || (c === counts[i - 1] && inxToSym[i] > inxToSym[i - 1]))) {
      throw new Error(`encodeTable: entry ${i} breaks the canonical order (count descending, then symbol ascending)`);
    }
    pushVarint(out, i === 0 ? c : counts[i - 1] - c);
  }
  return Uint8Array.from(out);
}

/** Reads varints from a byte array, refusing truncation and over-long encodings. */
class VarintReader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  read(what: string): number {
    let value = 0;
    let scale = 1;
    for (let k = 0; k < MAX_VARINT_BYTES; k++) {
      if (this.pos >= this.bytes.length) throw new Error(`symbol table truncated while reading ${what}`);
      const b = this.bytes[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) throw new Error(`corrupt symbol table: ${what} out of range`);
        return value;
      }
      scale *= 0x80;
    }
    throw new Error(`corrupt symbol table: varint too long in ${what}`);
  }
}

/**
 * Parses a table written by encodeTable from the start of `bytes` (trailing bytes are left to the caller, see
 * bytesRead). Throws on truncation, out-of-range values and tables not in canonical order.
 */
export function decodeTable(bytes: Uint8Array): { inxToSym: number[]; counts: number[]; bytesRead: number } {
  const reader = new VarintReader(bytes);
  const n = reader.read('the symbol count');
  // Every entry takes at least one byte for its symbol and one for its count: bounds n before allocating.
  if (n > reader.remaining / 2) throw new Error(`symbol table truncated: ${n} symbols announced but only ${reader.remaining} bytes follow`);
  const inxToSym = new Array<number>(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const sym = unzigzag(reader.read(`symbol ${i}`));
    if (sym < INT32_MIN || sym > INT32_MAX) throw new Error(`corrupt symbol table: symbol ${i} out of int32 range`);
    if (seen.has(sym)) throw new Error(`corrupt symbol table: symbol ${sym} appears twice`);
    seen.add(sym);
    inxToSym[i] = sym;
  }
  const counts = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = reader.read(`count ${i}`);
    if (i === 0) {
      if (v < 1) throw new Error('corrupt symbol table: zero count');
      counts[0] = v;
      continue;
    }
    const c = counts[i - 1] - v;
    if (c < 1) throw new Error(`corrupt symbol table: count ${i} is not positive`);
    if (c === counts[i - 1] && inxToSym[i] < inxToSym[i - 1]) throw new Error('corrupt symbol table: symbols not in canonical order');
    counts[i] = c;
  }
  return { inxToSym, counts, bytesRead: reader.pos };
}
