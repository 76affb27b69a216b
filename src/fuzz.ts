// Damaged and crafted .bin files, for the fuzz test and bench/fuzz.ts. Damage is what a disk or a network does
// (cut, flipped, overwritten bytes); crafting is what an attacker does: valid checksums around extreme header
// fields, and whole frames cut off, swapped, repeated or taken from another file. Every such file must be
// refused with a one-line error within the memory limits, or decode to the original; never to other text.
import { refusing, UserError } from './cli.ts';
import { type BinHeader, decodeBin, encodeBin, encodeSolo, FINGERPRINT_BYTES, isEnd, isModelFree, type Limits, ORIGINAL_HASH_BYTES, splitRecords } from './container.ts';
import { decodeExtra } from './extra.ts';
import { describeStream } from './frames.ts';
import { rangeDecode, rangeOfFrame } from './range.ts';

export const DAMAGES = ['truncate', 'flip', 'garbage', 'splice'] as const;
export const CRAFTS = ['extreme-field', 'cut-at-frame', 'swap-frames', 'repeat-frame', 'foreign-frame'] as const;
export type Case = (typeof DAMAGES)[number] | (typeof CRAFTS)[number];

/** A small seeded generator (mulberry32), so a failing case can be replayed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)];

/** Header fields an attacker would push to their extremes (the extra field's among them), with values to try. */
const EXTREMES: [string, (h: BinHeader, extra: Record<string, unknown>) => void][] = [
  ['tokens', (h) => (h.tokenCount = 2 ** 32 - 1)],
  ['tokens = bytes', (h) => (h.tokenCount = h.originalLength)],
  ['original length', (h) => (h.originalLength = 2 ** 53 - 1)],
  ['original length and tokens', (h) => ((h.originalLength = 2 ** 40), (h.tokenCount = 2 ** 32 - 1))],
  ['batch', (_, x) => (x.batch = 2 ** 31)],
  ['lanes', (_, x) => (x.lanes = 2 ** 31)],
  ['vocabulary', (_, x) => (x.vocabSize = 2 ** 31)],
  ['escaped bytes', (_, x) => (x.escapedBytes = -1)],
  ['dtype', (_, x) => (x.dtype = { toString: 1 })],
  ['comment', (_, x) => (x.comment = 'x'.repeat(3000))],
  ['segment', (h) => (h.segmentLength = 2 ** 32 - 1)],
  ['window', (h) => (h.contextWindow = 2 ** 32 - 1)],
  ['window 0', (h) => (h.contextWindow = 0)],
  ['topN', (h) => (h.topN = 2 ** 32 - 1)],
  ['precision', (h) => (h.scaleBits = 31)],
  ['model name', (h) => (h.modelName = '\u001b]0;pwned\u0007/etc/passwd')],
];

/**
 * A frame with its header changed by `edit` (and its words by `words`), under a valid checksum. A model frame's
 * extra values go back as version 3's JSON, which can hold any value, in bounds or not.
 */
export function craftFrame(record: Uint8Array, edit: (h: BinHeader, extra: Record<string, unknown>) => void, words?: Uint16Array): { header: BinHeader; frame: Uint8Array } {
  const { header, table, words: original } = decodeBin(record);
  const model = !isModelFree(header.mode);
  const extra = model ? (decodeExtra(header.extra, header) as unknown as Record<string, unknown>) : {};
  const changed = { ...header };
  edit(changed, extra);
  if (model) changed.extra = new TextEncoder().encode(JSON.stringify(extra));
  // A solo record holds only the layout it implies: a change it cannot hold goes out as a frame (with no end record).
  if (changed.solo && !encodeSolo({ header: changed, table, words: words ?? original })) {
    const padded = (bytes: Uint8Array, length: number) => Uint8Array.from({ length }, (_, i) => bytes[i] ?? 0);
    Object.assign(changed, { solo: false, modelFingerprint: padded(changed.modelFingerprint, FINGERPRINT_BYTES), originalSha256Prefix: padded(changed.originalSha256Prefix, ORIGINAL_HASH_BYTES) });
  }
  return { header: changed, frame: encodeBin(changed, table, words ?? original) };
}

/** A copy of `file` damaged or crafted as `kind` says; `foreign` is another file, for its frames. */
export function corrupt(file: Uint8Array, kind: Case, random: () => number, foreign: Uint8Array): Uint8Array {
  const at = Math.floor(random() * file.length);
  const records = splitRecords(file);
  const frames = records.length - 1;
  const join = (parts: Uint8Array[]) => Buffer.concat(parts);
  switch (kind) {
    // Copies, not views: a Buffer's slice() would share (and let us damage) the original.
    case 'truncate':
      return Uint8Array.from(file.subarray(0, at));
    case 'flip': {
      const out = Uint8Array.from(file);
      out[at] ^= 1 << Math.floor(random() * 8);
      return out;
    }
    case 'garbage':
      return Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256));
    case 'splice': {
      const out = Uint8Array.from(file);
      const len = 1 + Math.floor(random() * 16);
      for (let i = at; i < Math.min(out.length, at + len); i++) out[i] = Math.floor(random() * 256);
      return out;
    }
    case 'extreme-field': {
      const i = Math.floor(random() * frames);
      const [, push] = pick(EXTREMES, random);
      return join([...records.slice(0, i), craftFrame(records[i], push).frame, ...records.slice(i + 1)]);
    }
    case 'cut-at-frame':
      return join(records.slice(0, Math.floor(random() * records.length)));
    case 'swap-frames': {
      const [a, b] = [Math.floor(random() * records.length), Math.floor(random() * records.length)];
      const out = records.slice();
      [out[a], out[b]] = [out[b], out[a]];
      return a === b ? join(out.slice(0, -1)) : join(out);
    }
    case 'repeat-frame': {
      const i = Math.floor(random() * records.length);
      return join([...records.slice(0, i + 1), records[i], ...records.slice(i + 1)]);
    }
    case 'foreign-frame': {
      const theirs = splitRecords(foreign).filter((r) => !isEnd(r));
      const i = Math.floor(random() * frames);
      return join([...records.slice(0, i), pick(theirs, random), ...records.slice(i + 1)]);
    }
  }
}

export type Outcome = 'refused' | 'decoded-same' | 'WRONG';

/** The ranks of every coded frame of a rank-mode file, read without the model, every record checked in its place. */
export function ranksOf(file: Uint8Array, limits: Limits): string {
  const ranks: unknown[] = [];
  describeStream(refusing(() => splitRecords(file, limits)), limits, (contents) => {
    if (contents.header.mode === 'rank') ranks.push(rangeDecode(rangeOfFrame(contents)).tokenList);
  });
  return JSON.stringify(ranks);
}

/** What became of a damaged rank-mode file: refused in one line, or read back to the original's ranks (else WRONG). */
export function outcomeOfRankFile(damaged: Uint8Array, originalRanks: string, limits: Limits): Outcome {
  try {
    return ranksOf(damaged, limits) === originalRanks ? 'decoded-same' : 'WRONG';
  } catch (err) {
    if (!(err instanceof UserError) || err.message.includes('\n') || err.message.length === 0) return 'WRONG';
    return 'refused';
  }
}
