// A byte-level BPE tokenizer (GPT-2's scheme) read straight from a tokenizer.json: the models here all use one.
// It gives the ids transformers.js gives (test/tokenize.test.ts holds the two to each other) without loading
// transformers.js, whose import alone costs more than a second of every start.
import type { Tokenizer } from './model.ts';
import { BYTE_CHAR, type ByteVocabulary, bytesOfTokens } from './tokenize.ts';

/** The parts of a tokenizer.json read here. */
export interface TokenizerJson {
  normalizer?: unknown;
  pre_tokenizer?: { type?: string; add_prefix_space?: boolean; use_regex?: boolean } | null;
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; dropout?: number | null; byte_fallback?: boolean; ignore_merges?: boolean; end_of_word_suffix?: string | null; continuing_subword_prefix?: string | null };
  added_tokens?: { id: number; content: string; lstrip?: boolean; rstrip?: boolean; normalized?: boolean }[];
}

/** GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, each with one optional leading space; spaces. */
const WORDS = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Words up to this many characters have their tokens remembered; a text repeats most of its words. */
const CACHED_LENGTH = 256;

/**
 * The tokenizer of a tokenizer.json of plain byte-level BPE (its `vocabulary` as bytes; no normalizer, GPT-2's pre-tokenizer, merges by rank,
 * added tokens matched as they are), or undefined for any other kind, which transformers.js then reads.
 */
export function bytePairTokenizerOf(json: TokenizerJson, vocabulary: ByteVocabulary): Tokenizer | undefined {
  const { model, pre_tokenizer: pre } = json;
  const plain = json.normalizer == null && pre?.type === 'ByteLevel' && !pre.add_prefix_space && pre.use_regex !== false;
  const plainModel = model?.type === 'BPE' && model.vocab && model.merges && !model.dropout && !model.byte_fallback && !model.ignore_merges && !model.end_of_word_suffix && !model.continuing_subword_prefix;
  const added = json.added_tokens ?? [];
  if (!plain || !plainModel || added.some((t) => t.lstrip || t.rstrip || t.normalized || t.content === '')) return undefined;
  return new BytePairTokenizer(model.vocab!, model.merges!, added, vocabulary);
}

class BytePairTokenizer implements Tokenizer {
  private readonly ids: Map<string, number>;
  /** The rank of each merge, by its two pieces joined with a space (no piece holds a space: it is written Ġ). */
  private readonly ranks = new Map<string, number>();
  private readonly added: Map<string, number>;
  /** Splits text at the added tokens, longest first. */
  private readonly addedPattern?: RegExp;
  private readonly cache = new Map<string, number[]>();
  private readonly utf8 = new TextEncoder();
  /** A byte-order mark is text like any other here. */
  private readonly text = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(vocab: Record<string, number>, merges: (string | [string, string])[], added: { id: number; content: string }[], private readonly vocabulary: ByteVocabulary) {
    this.ids = new Map(Object.entries(vocab));
    merges.forEach((m, rank) => this.ranks.set(typeof m === 'string' ? m : `${m[0]} ${m[1]}`, rank));
    this.added = new Map(added.map((t) => [t.content, t.id]));
    const contents = [...this.added.keys()].sort((a, b) => b.length - a.length);
    if (contents.length) this.addedPattern = new RegExp(`(${contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const section of this.addedPattern ? text.split(this.addedPattern) : [text]) {
      const id = this.added.get(section);
      if (id !== undefined) out.push(id);
      else for (const [word] of section.matchAll(WORDS)) for (const t of this.word(word)) out.push(t);
    }
    return out;
  }

  /** The bytes of the ids as text (invalid UTF-8 as U+FFFD), special tokens included, as transformers.js's decode
   * with skip_special_tokens and clean_up_tokenization_spaces false. */
  decode(ids: number[]): string {
    return this.text.decode(bytesOfTokens(ids, this.vocabulary));
  }

  /** The ids of one pre-tokenized word; pieces missing from the vocabulary are left out, as transformers.js does. */
  private word(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids: number[] = [];
    for (const piece of this.merged(Array.from(this.utf8.encode(word), (b) => BYTE_CHAR[b]))) {
      const id = this.ids.get(piece);
      if (id !== undefined) ids.push(id);
    }
    if (word.length < CACHED_LENGTH) this.cache.set(word, ids);
    return ids;
  }

  /**
   * BPE: while some neighbouring pair has a merge, merge the pair of lowest rank, the leftmost of equals. A heap of
   * candidate pairs keeps long words (a line of 10,000 spaces) at n log n; a candidate is stale once either of
   * its pieces has changed.
   */
  private merged(symbols: string[]): string[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const version = new Int32Array(n);
    const heap = new PairHeap();
    const offer = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const rank = this.ranks.get(`${symbols[i]} ${symbols[j]}`);
      if (rank !== undefined) heap.push(rank, i, version[i], version[j]);
    };
    for (let i = 0; i + 1 < n; i++) offer(i);
    for (let top = heap.pop(); top; top = heap.pop()) {
      const [, i, vi, vj] = top;
      const j = next[i];
      if (version[i] !== vi || j < 0 || version[j] !== vj) continue;
      symbols[i] += symbols[j];
      version[i]++;
      version[j] = -1; // gone
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) offer(prev[i]);
      offer(i);
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(symbols[i]);
    return out;
  }
}

/** A binary min-heap of candidate merges [rank, left position, the two pieces' versions], by rank then position. */
class PairHeap {
  private items: [number, number, number, number][] = [];

  private less(a: [number, number, number, number], b: [number, number, number, number]) {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(rank: number, at: number, vi: number, vj: number) {
    const items = this.items;
    items.push([rank, at, vi, vj]);
    for (let k = items.length - 1; k > 0; ) {
      const parent = (k - 1) >> 1;
      if (!this.less(items[k], items[parent])) break;
      [items[k], items[parent]] = [items[parent], items[k]];
      k = parent;
    }
  }

  pop(): [number, number, number, number] | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length && last) {
      items[0] = last;
      for (let k = 0; ; ) {
        const l = 2 * k + 1, r = l + 1;
        let m = k;
        if (l < items.length && this.less(items[l], items[m])) m = l;
        if (r < items.length && this.less(items[r], items[m])) m = r;
        if (m === k) break;
        [items[k], items[m]] = [items[m], items[k]];
        k = m;
      }
    }
    return top;
  }
}
