// rangeEncode / rangeDecode and the .bin mapping: ranked tokens <-> rANS stream <-> container.
// Rank mode codes one symbol per token against a static table sent in the file (hit of rank r: -1-r;
// miss: the token id), needing no model. Exact mode codes each token's interval under the model's own
// distribution, in the order the decoder's model steps will visit them.
import { RansDecoder, buildStaticTable, createCumLookup, decodeTable, encodeTable, ransEncode, tableFromCounts } from './ans.ts';
import { refusing, UserError } from './cli.ts';
import { decodeExtra, encodeExtra, type Extra } from './extra.ts';
import { type BinContents, type BinHeader, encodeBin, FINGERPRINT_BYTES, fileOfFrame, frameOfFile, isModelFree, ORIGINAL_HASH_BYTES, SOLO_FINGERPRINT_BYTES, SOLO_HASH_BYTES, STREAM_ID_BYTES } from './container.ts';
import type { RangedDoc, TokenTriple, TokensDoc } from './ir.ts';
import { laneOf, visitOrder } from './codec.ts';

export function rangeEncode(doc: TokensDoc): RangedDoc {
  const { tokenList, intervals, ...head } = doc;
  const layout = { mode: doc.mode!, contextwindow: doc.contextwindow!, topN: doc.topN!, segmentLength: doc.segmentLength!, batch: doc.batch!, precision: doc.precision!, dtype: doc.dtype!, lanes: doc.lanes ?? 1, ...(doc.graph ? { graph: doc.graph } : {}), ...(doc.mixer ? { mixer: doc.mixer } : {}) };
  let inxToSym: number[] = [], counts: number[] = [];
  let words: Uint16Array;
  if (layout.mode === 'rank') {
    const symbols = tokenList.map(([token, index]) => (index >= 0 ? -1 - index : token));
    const table = buildStaticTable(symbols, layout.precision);
    ({ inxToSym, counts } = table);
    const slot = new Map(inxToSym.map((sym, i) => [sym, i]));
    const starts = symbols.map((s) => table.starts[slot.get(s)!]);
    const freqs = symbols.map((s) => table.freqs[slot.get(s)!]);
    words = ransEncode(starts, freqs, layout.precision);
  } else {
    const order = visitOrder(tokenList.length, layout.segmentLength, layout.batch);
    const lanes = order.map((p) => laneOf(p, layout));
    words = ransEncode(order.map((p) => intervals![p][0]), order.map((p) => intervals![p][1]), layout.precision, lanes, layout.lanes);
  }
  return { ...head, ...layout, format: 'llmc-ranged', length: tokenList.length, inxToSym, counts, compressed: Array.from(words) };
}

/** Rank mode only: hits come back as [0, rank, 0] and misses as [token, -1, 0], for modelOfInx. */
export function rangeDecode(doc: RangedDoc): TokensDoc {
  if (doc.mode !== 'rank') throw new UserError('rangeDecode decodes rank-mode streams; an exact-mode stream needs the model: use tokensOfRange');
  const { inxToSym, counts, compressed, length, prompt, sampling, ...head } = doc;
  const tokenList: TokenTriple[] = new Array(length);
  try {
    if (inxToSym.length === 0 && length > 0) throw new Error('corrupt stream: tokens but no symbol table');
    const table = tableFromCounts(inxToSym, counts, doc.precision);
    const lookup = length > 0 ? createCumLookup(table, doc.precision) : () => 0;
    const decoder = new RansDecoder(Uint16Array.from(compressed), doc.precision);
    for (let i = 0; i < length; i++) {
      const slot = lookup(decoder.peek());
      decoder.advance(table.starts[slot], table.freqs[slot]);
      const sym = inxToSym[slot];
      if (sym >= doc.vocabSize) throw new Error(`token ${sym} is outside the vocabulary`);
      tokenList[i] = sym < 0 ? [0, -1 - sym, 0] : [sym, -1, 0];
    }
    decoder.finish();
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  return { ...head, format: 'llmc-tokens', tokenList };
}

const hexBytes = (hex: string, length: number) => {
  const bytes = new Uint8Array(length);
  bytes.set(Buffer.from(hex, 'hex').subarray(0, length));
  return bytes;
};

/** Where a frame stands in its file: the stream's id and the frame's index. */
export interface Place {
  streamId: Uint8Array;
  frameIndex: number;
}

/** The place of a file's only frame: its stream id is the original's hash, as for any first block. */
export const onlyFrame = (sha256Hex: string): Place => ({ streamId: hexBytes(sha256Hex, STREAM_ID_BYTES), frameIndex: 0 });

/** binOfRange: a file of one frame (see frameOfRange): a solo record where its layout allows, else the frame and its end record. */
export function binOfRange(doc: RangedDoc): Uint8Array {
  return fileOfFrame(frameOfRange(doc, onlyFrame(doc.sha256)));
}

export function frameOfRange(doc: RangedDoc, place: Place): Uint8Array {
  if (doc.sampling || doc.prompt) throw new UserError('a generation document has no original to store in a .bin');
  const extra: Extra = { vocabSize: doc.vocabSize, batch: doc.batch, ...(doc.lanes && doc.lanes > 1 ? { lanes: doc.lanes } : {}), ...(doc.graph ? { graph: doc.graph } : {}), arithmetic: doc.arithmetic ?? 'float', dtype: doc.dtype, comment: doc.comment, escapedBytes: doc.escapedBytes ?? 0, ...(doc.runtime ? { runtime: doc.runtime } : {}), ...(doc.mixer ? { mixer: doc.mixer } : {}), ...(doc.lineEnds === 'crlf' ? { crlf: true } : {}) };
  // A document read from a solo record keeps its record's short hash and fingerprint: it can only be one again.
  const solo = doc.sha256.length === 2 * SOLO_HASH_BYTES;
  const header: BinHeader = {
    mode: doc.mode,
    scaleBits: doc.precision,
    modelName: doc.modelName,
    modelFingerprint: hexBytes(doc.modelFingerprint, solo ? SOLO_FINGERPRINT_BYTES : FINGERPRINT_BYTES),
    ...place,
    tokenCount: doc.length,
    originalLength: doc.byteLength,
    originalSha256Prefix: hexBytes(doc.sha256, solo ? SOLO_HASH_BYTES : ORIGINAL_HASH_BYTES),
    contextWindow: doc.contextwindow,
    topN: doc.topN,
    segmentLength: doc.segmentLength,
    extra: encodeExtra(extra),
    ...(solo ? { solo } : {}),
  };
  return encodeBin(header, encodeTable(doc.inxToSym, doc.counts), Uint16Array.from(doc.compressed));
}

/** binToRange: the ranged document of a file of one frame, after checking the frame and its end record. */
export function binToRange(bytes: Uint8Array): RangedDoc {
  return rangeOfFrame(refusing(() => frameOfFile(bytes)).contents);
}

export function rangeOfFrame({ header, table, words }: BinContents): RangedDoc {
  if (isModelFree(header.mode)) throw new UserError(`this .bin is a ${header.mode} frame (the model did not help): bytesOfBin gives its bytes back`);
  const extra = decodeExtra(header.extra, header);
  const { inxToSym, counts } = refusing(() => decodeTable(table), 'corrupt .bin header: ');
  return {
    format: 'llmc-ranged',
    modelName: header.modelName,
    vocabSize: extra.vocabSize,
    comment: extra.comment,
    escapedBytes: extra.escapedBytes ?? 0,
    runtime: extra.runtime ?? '',
    modelFingerprint: Buffer.from(header.modelFingerprint).toString('hex'),
    byteLength: header.originalLength,
    sha256: Buffer.from(header.originalSha256Prefix).toString('hex'),
    mode: header.mode,
    contextwindow: header.contextWindow,
    topN: header.topN,
    segmentLength: header.segmentLength,
    batch: extra.batch,
    lanes: extra.lanes ?? 1,
    ...(extra.graph ? { graph: extra.graph } : {}),
    ...(extra.mixer ? { mixer: extra.mixer } : {}),
    ...(extra.crlf ? { lineEnds: 'crlf' as const } : {}),
    arithmetic: extra.arithmetic ?? 'float',
    precision: header.scaleBits,
    dtype: extra.dtype,
    length: header.tokenCount,
    inxToSym,
    counts,
    compressed: Array.from(words),
  };
}
