// Damaged .bin files, for the fuzz test and bench/fuzz.ts: every damaged file must be refused with a
// one-line error, or decode to the original (a change the format does not depend on); never to other text.
import { binToRange, rangeDecode } from './range.ts';
import { UserError } from './cli.ts';

export type Damage = 'truncate' | 'flip' | 'garbage' | 'splice';

/** A small seeded generator (mulberry32), so a failing case can be replayed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function damage(bin: Uint8Array, kind: Damage, random: () => number): Uint8Array {
  const at = Math.floor(random() * bin.length);
  switch (kind) {
    case 'truncate':
      return bin.slice(0, at);
    case 'flip': {
      const out = bin.slice();
      out[at] ^= 1 << Math.floor(random() * 8);
      return out;
    }
    case 'garbage':
      return Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256));
    case 'splice': {
      const out = bin.slice();
      const len = 1 + Math.floor(random() * 16);
      for (let i = at; i < Math.min(out.length, at + len); i++) out[i] = Math.floor(random() * 256);
      return out;
    }
  }
}

export type Outcome = 'refused' | 'decoded-same' | 'WRONG';

/**
 * Decodes a damaged rank-mode .bin as far as the model-free stages go (container, table, rANS stream) and
 * says what happened. A stream that survives those must still match the original's ranks.
 */
export function outcomeOfRankBin(damaged: Uint8Array, originalRanks: string): Outcome {
  try {
    const doc = rangeDecode(binToRange(damaged));
    return JSON.stringify(doc.tokenList) === originalRanks ? 'decoded-same' : 'WRONG';
  } catch (err) {
    if (!(err instanceof UserError) || err.message.includes('\n') || err.message.length === 0) return 'WRONG';
    return 'refused';
  }
}
