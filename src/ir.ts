// The JSON documents that pass between stages (docs/IR.md), and their checks. Field names follow the
// reference project (modelName, vocabSize, contextwindow, topN, tokenList, inxToSym, counts, compressed);
// the rest says what a stage needs to refuse a wrong input instead of producing wrong text.
import { UserError } from './cli.ts';
import { type MixerSettings, mixerProblem } from './mixer.ts';

export type Mode = 'rank' | 'exact';
/** [tokenId, index, probability]: index is the model's rank of the token (-1: not yet ranked, or a miss). */
export type TokenTriple = [number, number, number];

/** What every document carries about the original input and the model that codes it. */
export interface Provenance {
  modelName: string;
  vocabSize: number;
  comment: string | null;
  /** Hex SHA-256 of the model files (empty until a model stage has run; its first 4 bytes from a solo record). */
  modelFingerprint: string;
  /** Length in bytes and the first 16 bytes of the SHA-256 of the original input, in hex ('' for generated text; 4 bytes from a solo record). */
  byteLength: number;
  sha256: string;
  /** Bytes of the original coded as single-byte tokens: not UTF-8, or not given back by the tokenizer. */
  escapedBytes?: number;
  /** The inference runtime that computed the probabilities (onnxruntime version, device, CPU kernels). */
  runtime?: string;
  /** 'crlf': every line of the original ends in CR LF, and the tokens code the text with LF alone. */
  lineEnds?: 'crlf';
}

/** Coding parameters that both sides must share. */
export interface Layout {
  mode: Mode;
  contextwindow: number;
  topN: number;
  /** Tokens per independently coded segment (0: one segment). */
  segmentLength: number;
  /** Segments stepped together through the model. */
  batch: number;
  /** Precision of the exact coder's integer frequencies (bits). */
  precision: number;
  /** Which graph of the model ran (fp32 or q8): the probabilities depend on it. */
  dtype: string;
  /** Exact mode: rANS states interleaved in the stream, one per row of a step (1 when absent). */
  lanes?: number;
  /** The kind of graph that ran (integer, stepper, coder or transformers; absent: the CPU's choice). */
  graph?: string;
  /** 'integer-1': the integer graph's arithmetic (docs/INTEGER.md), the same on every machine; 'float': the runtime's. */
  arithmetic?: string;
  /** Exact mode: the match model and mixer over the model's distribution (docs/MIXER.md); absent: the model alone. */
  mixer?: MixerSettings;
}

/** The rows of a step: segments of `segmentLength` tokens (0: one segment), `batch` of them at a time, at most. */
export function lanesFor(count: number, { segmentLength, batch }: Pick<Layout, 'segmentLength' | 'batch'>): number {
  return segmentLength > 0 ? Math.max(1, Math.min(batch, Math.ceil(count / segmentLength))) : 1;
}

/** The segments a stream needs before its rows get a rANS lane each (lanesOf), and the batch solo records imply. */
export const LANES_FROM = 64;

/**
 * The rANS lanes of an exact stream that llmc writes (format version 8): one a row of its largest group once the
 * stream has LANES_FROM segments (or fills its group, when the batch is smaller), so that a decoder knows every
 * row's next value before it decodes any (what lets a GPU code all rows of a step at once); one below that, where a
 * lane's 4 to 6 bytes would cost more than it speeds up.
 */
export function lanesOf(count: number, layout: Pick<Layout, 'segmentLength' | 'batch'>): number {
  return layout.segmentLength > 0 && count >= layout.segmentLength * Math.min(layout.batch, LANES_FROM) ? lanesFor(count, layout) : 1;
}

/**
 * The batch a stream is written with: `batch`, but LANES_FROM for a stream of at most LANES_FROM segments under a
 * larger batch: it is one group either way (the same steps, lanes and mixing), and LANES_FROM is the batch a solo
 * record implies, so a small input keeps its solo record.
 */
export function batchOf(count: number, layout: Pick<Layout, 'segmentLength' | 'batch'>): number {
  return layout.batch > LANES_FROM && lanesFor(count, layout) <= LANES_FROM ? LANES_FROM : layout.batch;
}

export interface TokensDoc extends Provenance, Partial<Layout> {
  format: 'llmc-tokens';
  tokenList: TokenTriple[];
  /** Exact mode: per token, [start, frequency] out of 2^precision. */
  intervals?: [number, number][];
}

export interface RangedDoc extends Provenance, Layout {
  format: 'llmc-ranged';
  /** Number of tokens coded. */
  length: number;
  inxToSym: number[];
  counts: number[];
  /** The rANS stream as 16-bit words. */
  compressed: number[];
  /** Generation only: tokens fed to the model before the coded ones, and no end-of-stream check. */
  prompt?: number[];
  sampling?: boolean;
}

const KINDS = { 'llmc-tokens': 'a tokens document (tokenList)', 'llmc-ranged': 'a ranged document (compressed)' };

function kindOf(doc: unknown): string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return `a JSON ${Array.isArray(doc) ? 'array' : typeof doc}`;
  const format = (doc as { format?: unknown }).format;
  if (typeof format === 'string' && format in KINDS) return KINDS[format as keyof typeof KINDS];
  if ('tokenList' in doc) return 'a tokens document without our format field';
  return 'JSON of another kind';
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new UserError(`malformed input: ${what}`);
}

const isInt = (x: unknown): x is number => Number.isSafeInteger(x);

function checkProvenance(doc: Record<string, unknown>): void {
  need(typeof doc.modelName === 'string', 'modelName must be a string');
  need(isInt(doc.vocabSize) && (doc.vocabSize as number) > 0, 'vocabSize must be a positive integer');
  need(isInt(doc.byteLength) && (doc.byteLength as number) >= 0, 'byteLength must be a non-negative integer');
  need(typeof doc.sha256 === 'string' && /^([0-9a-f]{32}|[0-9a-f]{8})?$/.test(doc.sha256 as string), 'sha256 must be 32 hex digits (8 from a solo record) or empty');
  need(typeof doc.modelFingerprint === 'string' && /^([0-9a-f]{64}|[0-9a-f]{8})?$/.test(doc.modelFingerprint as string), 'modelFingerprint must be 64 hex digits (8 from a solo record) or empty');
  need(doc.escapedBytes === undefined || (isInt(doc.escapedBytes) && (doc.escapedBytes as number) >= 0), 'escapedBytes must be a non-negative integer');
  need(doc.runtime === undefined || typeof doc.runtime === 'string', 'runtime must be a string');
  need(doc.lineEnds === undefined || doc.lineEnds === 'crlf', 'lineEnds must be "crlf" or absent');
}

function checkLayout(doc: Record<string, unknown>): void {
  need(doc.mode === 'rank' || doc.mode === 'exact', 'mode must be "rank" or "exact"');
  for (const key of ['contextwindow', 'topN', 'segmentLength', 'batch', 'precision']) {
    need(isInt(doc[key]) && (doc[key] as number) >= 0, `${key} must be a non-negative integer`);
  }
  need(typeof doc.dtype === 'string', 'dtype must be a string');
  need(doc.graph === undefined || ['integer', 'stepper', 'coder', 'transformers'].includes(doc.graph as string), 'graph must be integer, stepper, coder or transformers');
  need(doc.arithmetic === undefined || typeof doc.arithmetic === 'string', 'arithmetic must be a string');
  const mixer = doc.mixer === undefined ? undefined : mixerProblem(doc.mixer, doc.mode, doc.precision);
  need(mixer === undefined, mixer!);
  need(doc.lanes === undefined || (isInt(doc.lanes) && (doc.lanes as number) >= 1 && (doc.lanes as number) <= Math.max(1, doc.batch as number)), 'lanes must be an integer from 1 to the batch');
}

export function asTokensDoc(doc: unknown, { ranked = false } = {}): TokensDoc {
  if (kindOf(doc) !== KINDS['llmc-tokens']) throw new UserError(`expected ${KINDS['llmc-tokens']}, got ${kindOf(doc)}`);
  const d = doc as Record<string, unknown>;
  checkProvenance(d);
  need(Array.isArray(d.tokenList), 'tokenList must be an array');
  const vocab = d.vocabSize as number;
  for (const [i, t] of (d.tokenList as unknown[]).entries()) {
    need(Array.isArray(t) && t.length === 3 && isInt(t[0]) && isInt(t[1]) && typeof t[2] === 'number', `tokenList[${i}] must be [token, index, probability]`);
    const [token, index] = t as number[];
    need(token >= 0 && token < vocab, `tokenList[${i}] has token ${token} outside the vocabulary 0..${vocab - 1}`);
    need(index >= -1, `tokenList[${i}] has index ${index} < -1`);
  }
  if (ranked) {
    need(d.mode !== undefined, 'this document has no mode: run modelToInx first');
    checkLayout(d);
    if (d.mode === 'exact') {
      need(Array.isArray(d.intervals) && (d.intervals as unknown[]).length === (d.tokenList as unknown[]).length, 'exact mode needs one interval per token');
      const total = 2 ** (d.precision as number);
      for (const [i, iv] of (d.intervals as unknown[]).entries()) {
        need(Array.isArray(iv) && iv.length === 2 && isInt(iv[0]) && isInt(iv[1]) && iv[1] >= 1 && iv[0] >= 0 && iv[0] + iv[1] <= total, `intervals[${i}] must be [start, frequency] within 2^precision`);
      }
    }
  }
  return doc as TokensDoc;
}

export function asRangedDoc(doc: unknown): RangedDoc {
  if (kindOf(doc) !== KINDS['llmc-ranged']) throw new UserError(`expected ${KINDS['llmc-ranged']}, got ${kindOf(doc)}`);
  const d = doc as Record<string, unknown>;
  checkProvenance(d);
  checkLayout(d);
  need(isInt(d.length) && (d.length as number) >= 0, 'length must be a non-negative integer');
  for (const key of ['inxToSym', 'counts', 'compressed']) need(Array.isArray(d[key]) && (d[key] as unknown[]).every(isInt), `${key} must be an array of integers`);
  need((d.inxToSym as number[]).length === (d.counts as number[]).length, 'inxToSym and counts must have the same length');
  need((d.compressed as number[]).every((w) => w >= 0 && w <= 0xffff), 'compressed must hold 16-bit words');
  return doc as RangedDoc;
}

/** JSON with one token triple per line: diffable, and a fraction of the size of pretty-printing. */
export function stringifyDoc(doc: TokensDoc | RangedDoc): string {
  const { tokenList, intervals, compressed, ...head } = doc as unknown as Record<string, unknown[] | undefined>;
  const lines = JSON.stringify(head, null, 1).slice(0, -2).split('\n');
  const list = (key: string, items: unknown[], perLine: number) => {
    const rows: string[] = [];
    for (let i = 0; i < items.length; i += perLine) rows.push(items.slice(i, i + perLine).map((x) => JSON.stringify(x)).join(','));
    return ` "${key}": [${rows.length ? '\n  ' + rows.join(',\n  ') + '\n ' : ''}]`;
  };
  if (tokenList) lines[lines.length - 1] += ',\n' + list('tokenList', tokenList, 1);
  if (intervals) lines[lines.length - 1] += ',\n' + list('intervals', intervals, 8);
  if (compressed) lines[lines.length - 1] += ',\n' + list('compressed', compressed, 32);
  return lines.join('\n') + '\n}\n';
}
