// Text <-> tokens with the model's tokenizer, checking that nothing is lost on the way.
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

export function tokensOfStr(bytes: Uint8Array, tokenizer: Tokenizer, info: { modelName: string; vocabSize: number; comment?: string | null }): TokensDoc {
  const text = decodeUtf8(bytes);
  const ids = text === '' ? [] : tokenizer.encode(text, { add_special_tokens: false });
  if (ids.length > 0 && tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) !== text) {
    throw new UserError(`the tokenizer of ${info.modelName} cannot represent this text exactly`);
  }
  return {
    format: 'llmc-tokens',
    modelName: info.modelName,
    vocabSize: info.vocabSize,
    comment: info.comment ?? null,
    modelFingerprint: '',
    byteLength: bytes.length,
    sha256: sha256Prefix(bytes),
    tokenList: ids.map((id) => [id, -1, 0]),
  };
}

/** Decodes the tokens and, when the document knows the original, checks length and hash before anything is written. */
export function tokensToStr(doc: TokensDoc, tokenizer: Tokenizer): Uint8Array {
  const ids = doc.tokenList.map((t) => t[0]);
  const text = ids.length === 0 ? '' : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const bytes = new TextEncoder().encode(text);
  if (doc.sha256 && (bytes.length !== doc.byteLength || sha256Prefix(bytes) !== doc.sha256)) {
    throw new UserError(`decoded text does not match the original (${bytes.length} bytes, expected ${doc.byteLength}): wrong model or corrupt data`);
  }
  return bytes;
}
