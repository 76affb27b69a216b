// A model frame's extra field: the layout and provenance values the container has no slot for (docs/FORMAT.md,
// "Extra field"). Version 4 writes it as a few bytes; version 3 wrote JSON, which is still read. Either way every
// value is checked against its bounds before anything uses it.
import { UserError } from './cli.ts';
import type { BinHeader } from './container.ts';
import { lanesOf } from './ir.ts';
import { type MixerSettings, mixerProblem } from './mixer.ts';

export interface Extra {
  vocabSize: number;
  batch: number;
  lanes?: number;
  graph?: string;
  arithmetic?: string;
  dtype: string;
  comment: string | null;
  escapedBytes?: number;
  runtime?: string;
  mixer?: MixerSettings;
  /** The original's line ends are CR LF; the tokens code LF (src/tokenize.ts). */
  crlf?: boolean;
}

/** The layout bounds a decoder accepts (docs/FORMAT.md): what a file may ask of its memory and time. */
export const LAYOUT_BOUNDS = { vocabSize: 1 << 24, batch: 4096, contextWindow: 65536, segmentLength: 1 << 24, text: 255 };

/**
 * The layout a solo record implies (docs/FORMAT.md, "Solo records"): values of the format, fixed for version 6; from
 * version 8 the mixer is version 3 and the lanes follow from the token count (lanesOf); from version 9 the mixer may be
 * version 4, with its biasRate. llmc's defaults agree with them; a frame of any other layout is written in full, with
 * its end record.
 */
export const SOLO_LAYOUT = {
  scaleBits: 24, topN: 128, segmentLength: 2048, batch: 64, graph: 'integer', arithmetic: 'integer-1', dtype: 'q8',
  mixer: { minMatch: 3, learningShift: 13, matchRate: 4 }, biasRate: 26, pairRate: 77,
} as const;
/**
 * Bits of a solo model record's flags byte above bit 0 (solo): a mixer of SOLO_LAYOUT's settings, CR LF line ends,
 * escaped bytes follow, and `mixer2`, the mixer's other version: in versions 6 and 7 the mixer is version 2 with it
 * and 1 without, in version 8 always 3 (the bit is refused), in version 9 version 4 with it and 3 without, from version
 * 10 version 5 with it and 3 without.
 */
export const SOLO_HAS = { mixer: 2, crlf: 4, escaped: 8, mixer2: 16 };

/** The format version from which solo records imply mixer version 3 and lanes by the token count. */
export const LANES_SINCE = 8;
/** The format version that brought mixer version 4 (the token bias), and the one that brought version 5 (the pair bias). */
export const BIAS_SINCE = 9;
export const PAIRS_SINCE = 10;
/** The first format version a record may hold each mixer version in. */
export const MIXER_SINCE: Record<number, number> = { 4: BIAS_SINCE, 5: PAIRS_SINCE };

/** The mixer version a solo record of format `version` implies with these flags. */
const soloMixerVersion = (version: number, flags: number): MixerSettings['version'] =>
  version >= PAIRS_SINCE ? (flags & SOLO_HAS.mixer2 ? 5 : 3) : version >= BIAS_SINCE ? (flags & SOLO_HAS.mixer2 ? 4 : 3) : version >= LANES_SINCE ? 3 : flags & SOLO_HAS.mixer2 ? 2 : 1;

/** Whether a solo record of format `version` may set SOLO_HAS.mixer2. */
export const soloHasMixer2 = (version: number): boolean => version !== LANES_SINCE;

/** The values of the one-byte fields, by their code. */
const GRAPHS = [undefined, 'integer', 'stepper', 'coder', 'transformers'];
const ARITHMETICS = ['float', 'integer-1'];
const DTYPES = ['fp32', 'q8'];
/** Bits of the first byte: which optional fields follow. */
const HAS = { lanes: 1, comment: 2, runtime: 4, mixer: 8, crlf: 16 };

const code = (values: (string | undefined)[], value: string | undefined, what: string) => {
  const i = values.indexOf(value);
  if (i < 0) throw new Error(`the extra field has no code for ${what} ${String(value)}`);
  return i;
};

export function encodeExtra(extra: Extra): Uint8Array {
  const utf8 = (text: string, what: string) => {
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > LAYOUT_BOUNDS.text) throw new UserError(`the ${what} is ${bytes.length} bytes of UTF-8, at most ${LAYOUT_BOUNDS.text} fit in a .bin`);
    return [bytes.length, ...bytes];
  };
  const lanes = extra.lanes !== undefined && extra.lanes > 1;
  const flags = (lanes ? HAS.lanes : 0) | (extra.comment !== null ? HAS.comment : 0) | (extra.runtime ? HAS.runtime : 0) | (extra.mixer ? HAS.mixer : 0) | (extra.crlf ? HAS.crlf : 0);
  const out = new Uint8Array(1 + 4 + 2 + 3 + 4 + 2);
  const view = new DataView(out.buffer);
  out[0] = flags;
  view.setUint32(1, extra.vocabSize, true);
  view.setUint16(5, extra.batch, true);
  out[7] = code(GRAPHS, extra.graph, 'graph');
  out[8] = code(ARITHMETICS, extra.arithmetic ?? 'float', 'arithmetic');
  out[9] = code(DTYPES, extra.dtype, 'dtype');
  view.setUint32(10, extra.escapedBytes ?? 0, true);
  view.setUint16(14, lanes ? extra.lanes! : 0, true);
  const mixer = extra.mixer;
  return Uint8Array.from([
    ...out.subarray(0, lanes ? 16 : 14),
    ...(extra.comment !== null ? utf8(extra.comment, 'comment') : []),
    ...(extra.runtime ? utf8(extra.runtime, 'runtime') : []),
    ...(mixer ? [mixer.version, mixer.minMatch, mixer.learningShift, mixer.matchRate, ...(mixer.version >= 4 ? [mixer.biasRate!] : []), ...(mixer.version === 5 ? [mixer.pairRate!] : [])] : []),
  ]);
}

/** A solo record's flags (SOLO_HAS) for a model frame of the layout that solo records of this build's version imply; undefined for any other. */
export function soloFlagsOf(header: BinHeader, extra: Extra): number | undefined {
  const solo = SOLO_LAYOUT;
  const mixer = extra.mixer;
  const implied = header.mode === 'exact' && header.scaleBits === solo.scaleBits && header.topN === solo.topN && header.segmentLength === solo.segmentLength
    && extra.batch === solo.batch && (extra.lanes ?? 1) === lanesOf(header.tokenCount, solo) && extra.graph === solo.graph && extra.arithmetic === solo.arithmetic && extra.dtype === solo.dtype
    && extra.comment === null && !extra.runtime && (mixer === undefined || ((mixer.version === 3 || (mixer.version === 5 && mixer.biasRate === solo.biasRate && mixer.pairRate === solo.pairRate))
      && (Object.keys(solo.mixer) as (keyof typeof solo.mixer)[]).every((k) => mixer[k] === solo.mixer[k])));
  if (!implied) return undefined;
  return (mixer ? SOLO_HAS.mixer : 0) | (mixer?.version === 5 ? SOLO_HAS.mixer2 : 0) | (extra.crlf ? SOLO_HAS.crlf : 0) | (extra.escapedBytes ? SOLO_HAS.escaped : 0);
}

/** What a solo model record of format `version` implies: its header's layout values, and its extra field. */
export function impliedBySolo(version: number, flags: number, vocabSize: number, escapedBytes: number, tokenCount: number): Pick<BinHeader, 'scaleBits' | 'topN' | 'segmentLength' | 'extra'> {
  // the checks of decodeExtra come later; these keep the values within the extra field's 32 bits
  if (vocabSize > LAYOUT_BOUNDS.vocabSize) throw new UserError(`corrupt .bin header: vocabSize must be an integer in 2..${LAYOUT_BOUNDS.vocabSize}`);
  if (escapedBytes > 2 ** 32 - 1) throw new UserError('corrupt .bin header: escapedBytes must be an integer in 0..the original length');
  const solo = SOLO_LAYOUT;
  const extra: Extra = {
    vocabSize, batch: solo.batch, graph: solo.graph, arithmetic: solo.arithmetic, dtype: solo.dtype, comment: null, escapedBytes,
    ...(version >= LANES_SINCE ? { lanes: lanesOf(tokenCount, solo) } : {}),
    ...(flags & SOLO_HAS.mixer ? { mixer: mixerOfSolo(soloMixerVersion(version, flags)) } : {}),
    ...(flags & SOLO_HAS.crlf ? { crlf: true } : {}),
  };
  return { scaleBits: solo.scaleBits, topN: solo.topN, segmentLength: solo.segmentLength, extra: encodeExtra(extra) };
}

const mixerOfSolo = (version: MixerSettings['version']): MixerSettings =>
  ({ version, ...SOLO_LAYOUT.mixer, ...(version >= 4 ? { biasRate: SOLO_LAYOUT.biasRate } : {}), ...(version === 5 ? { pairRate: SOLO_LAYOUT.pairRate } : {}) });

/** The mixer version an extra field names, if it can be read (the record's version limits it: container.ts). */
export function mixerVersionOf(bytes: Uint8Array): number | undefined {
  const bad = (what: string): never => {
    throw new Error(what);
  };
  try {
    return (bytes[0] === 0x7b ? parseJson(bytes, bad) : parseBytes(bytes, bad)).mixer?.version;
  } catch {
    return undefined;
  }
}

/** The extra field as written (bytes, or version 3's JSON object), checked against the header and the bounds. */
export function decodeExtra(bytes: Uint8Array, header: BinHeader): Extra {
  const bad = (what: string): never => {
    throw new UserError(`corrupt .bin header: ${what}`);
  };
  const extra = bytes[0] === 0x7b ? parseJson(bytes, bad) : parseBytes(bytes, bad);
  checkLayout(header, extra, bad);
  return extra;
}

function parseJson(bytes: Uint8Array, bad: (what: string) => never): Extra {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return bad(`the extra field is not JSON: ${(err as Error).message}`);
  }
}

function parseBytes(bytes: Uint8Array, bad: (what: string) => never): Extra {
  let at = 0;
  const take = (n: number, what: string) => {
    if (at + n > bytes.length) bad(`the extra field ends inside its ${what}`);
    const part = bytes.subarray(at, at + n);
    at += n;
    return part;
  };
  const u8 = (what: string) => take(1, what)[0];
  const view = (part: Uint8Array) => new DataView(part.buffer, part.byteOffset, part.length);
  const u16 = (what: string) => view(take(2, what)).getUint16(0, true);
  const u32 = (what: string) => view(take(4, what)).getUint32(0, true);
  const text = (what: string) => {
    const n = u8(`${what} length`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(take(n, what));
    } catch {
      return bad(`the ${what} is not UTF-8`);
    }
  };
  const one = (values: (string | undefined)[], what: string) => {
    const i = u8(what);
    return i < values.length ? values[i] : bad(`unknown ${what} code ${i}`);
  };
  const flags = u8('flags');
  if (flags & ~(HAS.lanes | HAS.comment | HAS.runtime | HAS.mixer | HAS.crlf)) bad(`unknown flags ${flags} in the extra field`);
  const extra: Extra = {
    vocabSize: u32('vocabulary size'),
    batch: u16('batch'),
    graph: one(GRAPHS, 'graph'),
    arithmetic: one(ARITHMETICS, 'arithmetic'),
    dtype: one(DTYPES, 'dtype')!,
    escapedBytes: u32('escaped bytes'),
    comment: null,
  };
  if (flags & HAS.crlf) extra.crlf = true;
  if (flags & HAS.lanes) extra.lanes = u16('lanes');
  if (flags & HAS.comment) extra.comment = text('comment');
  if (flags & HAS.runtime) extra.runtime = text('runtime');
  if (flags & HAS.mixer) {
    const [version, minMatch, learningShift, matchRate] = take(4, 'mixer settings');
    extra.mixer = { version, minMatch, learningShift, matchRate, ...(version >= 4 && version <= 5 ? { biasRate: u8('mixer bias rate') } : {}), ...(version === 5 ? { pairRate: u8('mixer pair rate') } : {}) } as MixerSettings;
  }
  if (at !== bytes.length) bad(`${bytes.length - at} byte(s) after the extra field's last value`);
  return extra;
}

/** Refuses a header whose layout values are of the wrong kind or out of bounds, before any of them is used. */
function checkLayout(header: BinHeader, extra: Extra, bad: (what: string) => never): void {
  const int = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  const text = (v: unknown) => v === undefined || (typeof v === 'string' && v.length <= LAYOUT_BOUNDS.text);
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) bad('the extra field is not a JSON object');
  if (!int(extra.vocabSize, 2, LAYOUT_BOUNDS.vocabSize)) bad(`vocabSize must be an integer in 2..${LAYOUT_BOUNDS.vocabSize}`);
  if (!int(extra.batch, 1, LAYOUT_BOUNDS.batch)) bad(`batch must be an integer in 1..${LAYOUT_BOUNDS.batch}`);
  if (extra.lanes !== undefined && !int(extra.lanes, 1, extra.batch)) bad('lanes must be an integer in 1..batch');
  if (!int(extra.escapedBytes ?? 0, 0, header.originalLength)) bad('escapedBytes must be an integer in 0..the original length');
  if (extra.dtype !== 'fp32' && extra.dtype !== 'q8') bad('dtype must be fp32 or q8');
  if (!GRAPHS.includes(extra.graph)) bad('graph must be integer, stepper, coder or transformers');
  if (![extra.arithmetic, extra.runtime].every(text) || !(extra.comment === null || text(extra.comment))) bad(`arithmetic, runtime and comment must be strings of at most ${LAYOUT_BOUNDS.text} characters`);
  if (!int(header.contextWindow, 2, LAYOUT_BOUNDS.contextWindow)) bad(`context window must be in 2..${LAYOUT_BOUNDS.contextWindow}`);
  if (header.segmentLength > LAYOUT_BOUNDS.segmentLength) bad(`segment length must be at most ${LAYOUT_BOUNDS.segmentLength}`);
  if (header.topN > extra.vocabSize) bad('topN must be at most the vocabulary size');
  if (extra.mixer !== undefined) {
    const problem = mixerProblem(extra.mixer, header.mode, header.scaleBits);
    if (problem) bad(problem);
  }
}
