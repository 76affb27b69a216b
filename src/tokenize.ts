// Bytes <-> tokens with the model's tokenizer, so that nothing is lost on the way: any byte sequence has tokens.
// Valid UTF-8 runs go through the tokenizer; bytes outside UTF-8, and any run the tokenizer would not give back
// exactly, are coded as the byte-level vocabulary's single-byte tokens ("escaped"). Tokens turn back into bytes
// through the vocabulary itself, never through a string, so invalid UTF-8 survives.
import { createHash } from 'node:crypto';
import { UserError } from './cli.ts';
import type { TokensDoc } from './ir.ts';
import type { Tokenizer } from './model.ts';

export function sha256Prefix(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** Strict UTF-8 decoding: a compressor of text must not turn invalid bytes into U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, what = 'the input'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new UserError(`${what} is not valid UTF-8 text`);
  }
}

const KEEP_BOM = new TextDecoder('utf-8', { ignoreBOM: true });

/** A byte-level BPE vocabulary seen as bytes: the token of each single byte, and the bytes of each token. */
export interface ByteVocabulary {
  byteToken: Int32Array;
  tokenBytes: Uint8Array[];
}

/** GPT-2's byte-level alphabet: byte b is written as the character BYTE_CHAR[b] inside vocabulary entries. */
export const BYTE_CHAR: string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
})();

/** The byte view of a tokenizer.json, or undefined when its vocabulary is not byte-level BPE. */
export function byteVocabularyOf(tokenizerJson: { model?: { type?: string; vocab?: Record<string, number> }; added_tokens?: { id: number; content: string }[] }): ByteVocabulary | undefined {
  const vocab = tokenizerJson.model?.type === 'BPE' ? tokenizerJson.model.vocab : undefined;
  if (!vocab) return undefined;
  const charByte = new Map(BYTE_CHAR.map((c, b) => [c, b]));
  const tokenBytes: Uint8Array[] = [];
  for (const [piece, id] of Object.entries(vocab)) {
    const bytes = Array.from(piece, (c) => charByte.get(c));
    if (bytes.some((b) => b === undefined)) return undefined;
    tokenBytes[id] = Uint8Array.from(bytes as number[]);
  }
  for (const { id, content } of tokenizerJson.added_tokens ?? []) tokenBytes[id] = new TextEncoder().encode(content);
  const byteToken = Int32Array.from(BYTE_CHAR, (c) => vocab[c] ?? -1);
  return byteToken.includes(-1) ? undefined : { byteToken, tokenBytes };
}

/** Splits bytes into maximal runs of valid UTF-8 and single bytes that are not: [start, end, valid]. */
export function utf8Runs(bytes: Uint8Array): [number, number, boolean][] {
  const runs: [number, number, boolean][] = [];
  let runStart = 0;
  let i = 0;
  const cont = (k: number) => k < bytes.length && (bytes[k] & 0xc0) === 0x80;
  while (i < bytes.length) {
    const b = bytes[i];
    let n = 0; // length of a valid sequence at i, 0 if none
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (b >= 0xe0 && b <= 0xef) {
      const lo = b === 0xe0 ? 0xa0 : 0x80, hi = b === 0xed ? 0x9f : 0xbf; // no overlongs, no surrogates
      n = bytes[i + 1] >= lo && bytes[i + 1] <= hi && cont(i + 2) ? 3 : 0;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const lo = b === 0xf0 ? 0x90 : 0x80, hi = b === 0xf4 ? 0x8f : 0xbf; // no overlongs, nothing past U+10FFFF
      n = bytes[i + 1] >= lo && bytes[i + 1] <= hi && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > runStart) runs.push([runStart, i, true]);
    runs.push([i, i + 1, false]);
    runStart = ++i;
  }
  if (i > runStart) runs.push([runStart, i, true]);
  return runs;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The bytes of a token sequence, through the vocabulary. */
export function bytesOfTokens(ids: number[], vocabulary: ByteVocabulary): Uint8Array {
  return concatBytes(ids.map((id) => vocabulary.tokenBytes[id] ?? new Uint8Array(0)));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The bytes with CR LF line ends as LF, when every line ends in CR LF (at least one, and no LF alone), so that
 * putting a CR before every LF gives the bytes back. The models read LF text; a CR before each LF would cost
 * them a token a line. Otherwise undefined.
 */
export function lfOfCrlf(bytes: Uint8Array): Uint8Array | undefined {
  let pairs = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (i === 0 || bytes[i - 1] !== 0x0d) return undefined;
    pairs++;
  }
  if (pairs === 0) return undefined;
  const out = new Uint8Array(bytes.length - pairs);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) if (!(bytes[i] === 0x0d && bytes[i + 1] === 0x0a)) out[o++] = bytes[i];
  return out;
}

/** The inverse of lfOfCrlf: a CR before every LF. */
export function crlfOfLf(bytes: Uint8Array): Uint8Array {
  let lines = 0;
  for (const b of bytes) if (b === 0x0a) lines++;
  const out = new Uint8Array(bytes.length + lines);
  let o = 0;
  for (const b of bytes) {
    if (b === 0x0a) out[o++] = 0x0d;
    out[o++] = b;
  }
  return out;
}

export function tokensOfStr(
  original: Uint8Array,
  tokenizer: Tokenizer,
  vocabulary: ByteVocabulary | undefined,
  info: { modelName: string; vocabSize: number; comment?: string | null },
): TokensDoc {
  const lf = lfOfCrlf(original);
  const bytes = lf ?? original;
  const ids: number[] = [];
  let escapedBytes = 0;
  if (!vocabulary) {
    const text = decodeUtf8(bytes, `the input (and ${info.modelName} has no byte-level vocabulary to escape it with)`);
    if (text !== '') for (const id of tokenizer.encode(text, { add_special_tokens: false })) ids.push(id);
    if (ids.length > 0 && tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) !== text) {
      throw new UserError(`the tokenizer of ${info.modelName} cannot represent this text exactly`);
    }
  } else {
    for (const [start, end, valid] of utf8Runs(bytes)) {
      const run = bytes.subarray(start, end);
      const tokens = valid ? tokenizer.encode(KEEP_BOM.decode(run), { add_special_tokens: false }) : [];
      if (valid && sameBytes(bytesOfTokens(tokens, vocabulary), run)) {
        for (const id of tokens) ids.push(id); // not push(...tokens): a long run would overflow the call stack
      } else {
        run.forEach((b) => ids.push(vocabulary.byteToken[b]));
        escapedBytes += run.length;
      }
    }
  }
  return {
    format: 'llmc-tokens',
    modelName: info.modelName,
    vocabSize: info.vocabSize,
    comment: info.comment ?? null,
    modelFingerprint: '',
    byteLength: original.length,
    sha256: sha256Prefix(original),
    escapedBytes,
    ...(lf ? { lineEnds: 'crlf' as const } : {}),
    tokenList: ids.map((id) => [id, -1, 0]),
  };
}

/** The bytes of tokens: through the byte-level vocabulary when there is one, else through the tokenizer's text. */
export function bytesOf(ids: number[], tokenizer: Tokenizer, vocabulary: ByteVocabulary | undefined): Uint8Array {
  if (vocabulary) return bytesOfTokens(ids, vocabulary);
  return new TextEncoder().encode(ids.length === 0 ? '' : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
}

/** Decodes the tokens and, when the document knows the original, checks length and hash before anything is written. */
export function tokensToStr(doc: TokensDoc, tokenizer: Tokenizer, vocabulary: ByteVocabulary | undefined): Uint8Array {
  const coded = bytesOf(doc.tokenList.map((t) => t[0]), tokenizer, vocabulary);
  const bytes = doc.lineEnds === 'crlf' ? crlfOfLf(coded) : coded;
  if (doc.sha256 && (bytes.length !== doc.byteLength || !sha256Prefix(bytes).startsWith(doc.sha256))) {
    throw new UserError(`decoded text does not match the original (${bytes.length} bytes, expected ${doc.byteLength}): wrong model or corrupt data`);
  }
  return bytes;
}
