// statsOfInx / statsOfRange: what a ranked tokens document and a ranged document say about the model and
// the coder: hits and misses, the model's cross-entropy (Σ −log2 p), and what the stream really costs.
import { encodeTable } from './ans.ts';
import type { RangedDoc, TokensDoc } from './ir.ts';
import { binOfRange } from './range.ts';

/** Bits the model pays for a token it gave probability p (Infinity for p = 0). */
export const bitsOf = (p: number): number => (p > 0 ? -Math.log2(p) : Infinity);

/**
 * A miss is a token the model did not rank among its best topN: index -1 in rank mode, and, so that both
 * modes count alike, a true rank ≥ topN in exact mode (whose index is the true rank).
 */
export const isMiss = (index: number, topN: number | undefined): boolean => index < 0 || (topN !== undefined && topN > 0 && index >= topN);

const percent = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);
const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export interface InxStats {
  modelName: string;
  mode: string | null;
  topN: number | null;
  tokens: number;
  bytes: number;
  /** Tokens with a rank below topN; perfect hits have rank 0, other hits ranks 1..topN-1. */
  hits: number;
  perfectHits: number;
  otherHits: number;
  misses: number;
  hitPercent: number;
  perfectHitPercent: number;
  otherHitPercent: number;
  missPercent: number;
  /** Σ −log2 p over the tokens: the model's cross-entropy of the text, in bits (null: no probabilities). */
  bits: number | null;
  bitsPerToken: number | null;
  bitsPerByte: number | null;
  /** Exact mode: Σ −log2(frequency / 2^precision), what the coder's integer intervals cost. */
  intervalBits: number | null;
  intervalBitsPerByte: number | null;
}

export function statsOfInx(doc: TokensDoc): InxStats {
  const tokens = doc.tokenList.length;
  const topN = doc.topN ?? null;
  let perfectHits = 0, misses = 0, bits = 0, anyProbability = false;
  for (const [, index, p] of doc.tokenList) {
    if (isMiss(index, doc.topN)) misses++;
    else if (index === 0) perfectHits++;
    bits += bitsOf(p);
    if (p > 0) anyProbability = true;
  }
  const hits = tokens - misses;
  let intervalBits: number | null = null;
  if (doc.intervals && doc.precision !== undefined) {
    intervalBits = 0;
    for (const [, freq] of doc.intervals) intervalBits += doc.precision - Math.log2(freq);
  }
  const total = anyProbability ? bits : null;
  return {
    modelName: doc.modelName,
    mode: doc.mode ?? null,
    topN,
    tokens,
    bytes: doc.byteLength,
    hits,
    perfectHits,
    otherHits: hits - perfectHits,
    misses,
    hitPercent: percent(hits, tokens),
    perfectHitPercent: percent(perfectHits, tokens),
    otherHitPercent: percent(hits - perfectHits, tokens),
    missPercent: percent(misses, tokens),
    bits: total,
    bitsPerToken: total === null ? null : ratio(total, tokens),
    bitsPerByte: total === null ? null : ratio(total, doc.byteLength),
    intervalBits,
    intervalBitsPerByte: intervalBits === null ? null : ratio(intervalBits, doc.byteLength),
  };
}

export interface RangeStats {
  modelName: string;
  mode: string;
  tokens: number;
  bytes: number;
  precision: number;
  /** Distinct symbols in the static table (rank mode; 0 in exact mode) and its size as stored in a .bin. */
  tableSymbols: number;
  tableBytes: number;
  /** Rank mode: hits, perfect hits and misses as the table counts them (null in exact mode). */
  hits: number | null;
  perfectHits: number | null;
  misses: number | null;
  streamWords: number;
  streamBytes: number;
  /** Size of the .bin container (header, table, stream, checksum); null for a generation document. */
  binBytes: number | null;
  streamBitsPerToken: number | null;
  streamBitsPerByte: number | null;
  binBitsPerByte: number | null;
}

export function statsOfRange(doc: RangedDoc): RangeStats {
  let binBytes: number | null = null;
  if (!doc.sampling && !doc.prompt) binBytes = binOfRange(doc).length;
  const rank = doc.mode === 'rank';
  let hits = 0, perfectHits = 0, misses = 0;
  doc.inxToSym.forEach((sym, i) => {
    if (sym >= 0) misses += doc.counts[i];
    else hits += doc.counts[i];
    if (sym === -1) perfectHits += doc.counts[i];
  });
  const streamBytes = 2 * doc.compressed.length;
  return {
    modelName: doc.modelName,
    mode: doc.mode,
    tokens: doc.length,
    bytes: doc.byteLength,
    precision: doc.precision,
    tableSymbols: doc.inxToSym.length,
    tableBytes: encodeTable(doc.inxToSym, doc.counts).length,
    hits: rank ? hits : null,
    perfectHits: rank ? perfectHits : null,
    misses: rank ? misses : null,
    streamWords: doc.compressed.length,
    streamBytes,
    binBytes,
    streamBitsPerToken: ratio(8 * streamBytes, doc.length),
    streamBitsPerByte: ratio(8 * streamBytes, doc.byteLength),
    binBitsPerByte: binBytes === null ? null : ratio(8 * binBytes, doc.byteLength),
  };
}

// ---- Plain text ----

/** A count with thousands separators: 263,703. */
export const int = (n: number) => n.toLocaleString('en-US');
const num = (n: number | null, digits = 3) => (n === null ? 'n/a' : Number.isFinite(n) ? n.toFixed(digits) : String(n));
const pct = (n: number) => `${n.toFixed(2)}%`;

/** Aligned "label  value" lines. */
function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n') + '\n';
}

export function formatInxStats(s: InxStats): string {
  const rows: [string, string][] = [
    ['model', `${s.modelName}${s.mode ? ` (${s.mode} mode, topN ${s.topN})` : ''}`],
    ['tokens', int(s.tokens)],
    ['bytes', int(s.bytes)],
    ['hits (rank < topN)', `${int(s.hits)} (${pct(s.hitPercent)})`],
    ['  perfect hits (rank 0)', `${int(s.perfectHits)} (${pct(s.perfectHitPercent)})`],
    ['  other hits', `${int(s.otherHits)} (${pct(s.otherHitPercent)})`],
    ['misses (rank ≥ topN)', `${int(s.misses)} (${pct(s.missPercent)})`],
    ['cross-entropy (Σ −log2 p)', s.bits === null ? 'n/a (no probabilities in this document)' : `${int(Math.round(s.bits))} bits = ${int(Math.ceil(s.bits / 8))} bytes`],
    ['  bits/token', num(s.bitsPerToken)],
    ['  bits/byte', num(s.bitsPerByte)],
  ];
  if (s.intervalBits !== null) {
    rows.push(['exact intervals (Σ −log2 f)', `${int(Math.round(s.intervalBits))} bits`], ['  bits/byte', num(s.intervalBitsPerByte)]);
  }
  return table(rows);
}

export function formatRangeStats(s: RangeStats): string {
  const rows: [string, string][] = [
    ['model', `${s.modelName} (${s.mode} mode, precision ${s.precision})`],
    ['tokens', int(s.tokens)],
    ['bytes', int(s.bytes)],
  ];
  if (s.hits !== null) {
    const of = (n: number) => `${int(n)} (${pct(percent(n, s.tokens))})`;
    rows.push(['hits', of(s.hits)], ['  perfect hits (rank 0)', of(s.perfectHits!)], ['misses', of(s.misses!)]);
  }
  rows.push(
    ['table', `${int(s.tableSymbols)} symbols, ${int(s.tableBytes)} bytes`],
    ['stream', `${int(s.streamWords)} words = ${int(s.streamBytes)} bytes`],
    ['  bits/token', num(s.streamBitsPerToken)],
    ['  bits/byte', num(s.streamBitsPerByte)],
    ['.bin', s.binBytes === null ? 'n/a (generation document)' : `${int(s.binBytes)} bytes, ${num(s.binBitsPerByte)} bits/byte`],
  );
  return table(rows);
}
