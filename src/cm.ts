// A byte-level context-mixing coder ("cm", docs/CM.md): the floor for text the model codes badly and that short
// byte contexts predict well (server logs, URL-encoded data, tables). Each bit of each byte is predicted from
// contexts of orders 0-4 and 6, two word contexts, the byte above in the last line (by column and by field), the
// field so far, what followed the last two bytes before, the shape of the text with numbers as one symbol, and a
// match model, mixed in the logistic domain by two sets of weights learned while coding, refined by three adaptive
// probability maps, and coded by a binary arithmetic coder. Every step is integer arithmetic in a fixed order, so
// the decoder computes the same probabilities on any machine. native/cm.c does the same in C, 2–4 times faster
// (bench/cm.ts); this file is its reference, and the coder where the addon does not build (or with LLMC_ENGINE=onnx).
import { projectsAbove } from './codec.ts';
import { nativeEngine } from './native.ts';

/** squash(d) = 4096 / (1 + e^(-d/256)), d in [-2047, 2047], by linear interpolation between these values at d = 128·k. */
const SQUASH_KNOTS = [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094];

/** The logistic function in 12 bits: a probability in (0, 4096) for a stretch in 1/256 nat. */
function squash(d: number): number {
  if (d > 2047) return 4095;
  if (d < -2047) return 1;
  const w = d & 127;
  const k = (d >> 7) + 16;
  return (SQUASH_KNOTS[k] * (128 - w) + SQUASH_KNOTS[k + 1] * w + 64) >> 7;
}

/** stretch(p) = ln(p / (1 - p)) in 1/256 nat: the inverse of squash, tabled for every 12-bit p. */
const STRETCH = new Int16Array(4096);
{
  let pi = 0;
  for (let x = -2047; x <= 2047; x++) {
    const v = squash(x);
    for (let j = pi; j <= v; j++) STRETCH[j] = x;
    pi = v + 1;
  }
  for (let j = pi; j < 4096; j++) STRETCH[j] = 2047;
}

/**
 * The hashed contexts: orders 2-4 and 6, two word contexts, the byte above by column and by field, the bytes that
 * followed the last two bytes before, the field so far, and the last eight symbols with a run of digits as one.
 */
const HASHED = 11;
/** Inputs to the mixer: order 0; order 1 and the hashed contexts, each stretched and linear; the match model; a bias. */
const INPUTS = 1 + 2 * (HASHED + 1) + 2;
/** A counter's count stops here: its rate 1/(n + 1.5) then stays. */
const COUNT_LIMIT = 255;
/** 2^14 / (n + 1.5): the step of a counter seen n times, so that early steps average and later ones follow slowly. */
const RATE = Int32Array.from({ length: COUNT_LIMIT + 1 }, (_, n) => Math.floor(16384 / (n + 1.5)));
const MIN_MATCH = 6;
/** A match of this many bytes is looked for first: the longer the context, the surer its next byte. */
const LONG_MATCH = 12;
/** How many outcomes a hashed context's counter averages at most: it keeps following a changing context. */
const HASHED_LIMIT = 30;
/** The mixer's step: weights (16.16) move by input · error · rate / 2^12, the rate falling as the block goes on. */
const learningRate = (pos: number): number => (pos < 4096 ? 12 : pos < 32768 ? 6 : 4);
const MAX_WEIGHT = 1 << 22;
const MAX_MATCH = 65535;

/** Probabilities of one bit, adaptive: `p` in 16 bits, stepping toward each outcome at a rate that slows with use. */
class Counters {
  readonly p: Uint16Array;
  readonly n: Uint8Array;
  constructor(size: number) {
    this.p = new Uint16Array(size).fill(32768);
    this.n = new Uint8Array(size);
  }
  update(i: number, bit: number, limit: number): void {
    const n = this.n[i];
    const p = this.p[i];
    this.p[i] = p + ((((bit << 16) - bit - p) * RATE[n]) >> 14);
    if (n < limit) this.n[i] = n + 1;
  }
}

/** An adaptive probability map: a probability refined in a context, by interpolating 33 buckets of its stretch. */
class Apm {
  private readonly t: Uint16Array;
  private index = 0;
  constructor(contexts: number, private readonly rate: number) {
    this.t = new Uint16Array(contexts * 33);
    for (let c = 0; c < contexts; c++) for (let j = 0; j < 33; j++) this.t[c * 33 + j] = squash((j - 16) * 128) * 16;
  }
  refine(p: number, context: number): number {
    const s = STRETCH[p] + 2048;
    const lo = s >> 7;
    const w = s & 127;
    this.index = context * 33 + lo + (w >> 6);
    const base = context * 33 + lo;
    return (this.t[base] * (128 - w) + this.t[base + 1] * w) >> 11;
  }
  update(bit: number): void {
    const g = (bit << 16) + (bit << this.rate) - bit - bit;
    this.t[this.index] += (g - this.t[this.index]) >> this.rate;
  }
}

/** Table bits for a block of `length` bytes: about two slots per bit coded, from 2^16 to 2^22 per context. */
const tableBits = (length: number): number => Math.min(22, Math.max(16, Math.ceil(Math.log2(length + 1)) + 4));

/** 32-bit multiplicative hashing (wrapping), as the contexts and the match table use it. */
const hash2 = (a: number, b: number): number => Math.imul(Math.imul(a, 0x2f0b4c27) ^ b, 0x9e3779b1) ^ (b >>> 15);

/**
 * The model: predicts the next bit (`p`, 12 bits, of a 1) and learns it (`update`). It reads the bytes coded so far
 * from `history`, which the encoder fills in advance and the decoder as it goes.
 */
class Predictor {
  private readonly bits: number;
  private readonly shift: number;
  /** Bits of the match tables' slots: a quarter of a context table's, at least 12. */
  private readonly matchBits: number;
  private readonly order0 = new Counters(256);
  private readonly order1 = new Counters(65536);
  private readonly hashed: Counters[] = [];
  private readonly contexts = new Int32Array(HASHED);
  private readonly slots = new Int32Array(HASHED);
  private readonly match: Int32Array;
  private readonly longMatch: Int32Array;
  private readonly matchCounters = new Counters(64 * 2);
  private readonly weights: Int32Array;
  private readonly inputs = new Int32Array(INPUTS);
  private readonly apmOrder0 = new Apm(256, 7);
  private readonly apmOrder1 = new Apm(65536, 7);
  private readonly apmMatch = new Apm(2048, 7);
  /** For each pair of bytes, the last two bytes that followed it (an indirect context). */
  private readonly followed = new Uint16Array(65536);
  /** A hash of the current field's bytes so far. */
  private fieldHash = 0;
  /** The last eight symbols, latest first: a byte, or 256 for a run of digits (numbers vary where their shape does not). */
  private readonly shape = new Int32Array(8);
  private inDigits = false;
  private c0 = 1;
  private bitCount = 0;
  private pos = 0;
  private c4 = 0;
  private word = 0;
  private lastWord = 0;
  private lineStart = 0;
  /** Where each field (cut at spaces) of this line and of the last one starts, for the byte above in the same field. */
  private fields = new Int32Array(64);
  private lastFields = new Int32Array(64);
  private fieldCount = 0;
  private lastFieldCount = 0;
  private lastLineStart = 0;
  private matchPtr = 0;
  private matchLength = 0;
  private expectedByte = -1;
  private weightSet = 0;
  private weightSet2 = 0;
  private mixed1 = 2048;
  private mixed2 = 2048;
  private pr = 2048;

  constructor(private readonly history: Uint8Array) {
    this.bits = tableBits(history.length);
    this.shift = 32 - this.bits;
    for (let i = 0; i < HASHED; i++) this.hashed.push(new Counters(1 << this.bits));
    this.matchBits = Math.max(12, this.bits - 2);
    this.match = new Int32Array(1 << this.matchBits).fill(-1);
    this.longMatch = new Int32Array(1 << this.matchBits).fill(-1);
    this.weights = new Int32Array((1024 + 2048) * INPUTS).fill(1 << 12);
    this.byteContexts();
    this.predictBit();
  }

  /** The probability (12 bits) that the next bit is 1. */
  p(): number {
    return this.pr;
  }

  update(bit: number): void {
    // mixer: each weight set moves along its own error times each input
    const rate = learningRate(this.pos);
    this.train(this.weightSet, this.mixed1, bit, rate);
    this.train(this.weightSet2, this.mixed2, bit, rate);
    this.apmOrder0.update(bit);
    this.apmOrder1.update(bit);
    this.apmMatch.update(bit);
    const c0 = this.c0;
    this.order0.update(c0, bit, 60);
    this.order1.update(((this.c4 & 0xff) << 8) | c0, bit, 255);
    for (let i = 0; i < HASHED; i++) this.hashed[i].update(this.slots[i], bit, HASHED_LIMIT);
    if (this.expectedByte >= 0) {
      const expected = (this.expectedByte >> (7 - this.bitCount)) & 1;
      this.matchCounters.update(this.matchSlot() * 2 + expected, bit, 255);
      if (expected !== bit) this.expectedByte = -1;
    }
    this.c0 = (c0 << 1) | bit;
    this.bitCount++;
    if (this.bitCount === 8) {
      this.endByte(this.c0 & 0xff);
      this.c0 = 1;
      this.bitCount = 0;
    }
    this.predictBit();
  }

  /** A weight set's mixed stretch: the dot product with the inputs, floored to whole units and clamped. */
  private dot(set: number): number {
    const { inputs, weights } = this;
    const base = set * INPUTS;
    let sum = 0;
    for (let i = 0; i < INPUTS; i++) sum += inputs[i] * weights[base + i];
    return Math.max(-2047, Math.min(2047, Math.floor(sum / 65536)));
  }

  /** Moves a weight set along its error (the bit against its own squashed output) times each input. */
  private train(set: number, output: number, bit: number, rate: number): void {
    const { inputs, weights } = this;
    const err = ((bit << 12) - output) * rate;
    const base = set * INPUTS;
    for (let i = 0; i < INPUTS; i++) weights[base + i] = Math.max(-MAX_WEIGHT, Math.min(MAX_WEIGHT, weights[base + i] + ((inputs[i] * err) >> 12)));
  }

  private matchSlot(): number {
    const l = this.matchLength;
    return l < 16 ? l : l < 32 ? 16 + ((l - 16) >> 1) : l < 64 ? 24 + ((l - 32) >> 2) : Math.min(63, 32 + ((l - 64) >> 4));
  }

  private endByte(byte: number): void {
    const { history } = this;
    this.pos++;
    const pair = this.c4 & 0xffff;
    this.followed[pair] = (this.followed[pair] << 8) | byte;
    this.fieldHash = byte === 0x20 || byte === 0x0a ? 0 : hash2(this.fieldHash + 1, byte);
    this.c4 = (this.c4 << 8) | byte;
    const digit = byte >= 0x30 && byte <= 0x39;
    if (!(digit && this.inDigits)) {
      this.shape.copyWithin(1, 0, 7);
      this.shape[0] = digit ? 256 : byte;
    }
    this.inDigits = digit;
    const letter = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || byte >= 0x80;
    if (letter) this.word = hash2(this.word + 1, byte | 0x20);
    else if (this.word !== 0) {
      this.lastWord = this.word;
      this.word = 0;
    }
    if (byte === 0x0a) {
      this.lastLineStart = this.lineStart;
      this.lineStart = this.pos;
      [this.fields, this.lastFields] = [this.lastFields, this.fields];
      this.lastFieldCount = this.fieldCount;
      this.fieldCount = 0;
    } else if (byte === 0x20 && this.fieldCount < 64) this.fields[this.fieldCount++] = this.pos;
    // match model: follow the match, else look for one ending here
    const pos = this.pos;
    if (this.matchLength > 0 && history[this.matchPtr] === byte) {
      this.matchLength = Math.min(MAX_MATCH, this.matchLength + 1);
      this.matchPtr++;
    } else this.matchLength = 0;
    if (pos >= LONG_MATCH) this.findMatch(this.longMatch, LONG_MATCH);
    if (pos >= MIN_MATCH) this.findMatch(this.match, MIN_MATCH);
    this.byteContexts();
  }

  /**
   * With no match running, starts one at the position after the last occurrence of the `length` bytes before this
   * position, if at least that many bytes before both agree (its length is how many, at most 32); then files this
   * position in `table` under those bytes' hash.
   */
  private findMatch(table: Int32Array, length: number): void {
    const { history, pos } = this;
    let h = 0;
    for (let i = pos - length; i < pos; i++) h = hash2(h, history[i]);
    const slot = h >>> (32 - this.matchBits);
    const candidate = table[slot];
    if (this.matchLength === 0 && candidate >= 0) {
      let agree = 0;
      while (agree < 32 && candidate - agree > 0 && history[candidate - agree - 1] === history[pos - agree - 1]) agree++;
      if (agree >= length) {
        this.matchLength = agree;
        this.matchPtr = candidate;
      }
    }
    table[slot] = pos;
  }

  /** The hashes of this byte's contexts, each the base its bits' slots are found from. */
  private byteContexts(): void {
    const { contexts, c4 } = this;
    contexts[0] = hash2(1, c4 & 0xffff);
    contexts[1] = hash2(2, c4 & 0xffffff);
    contexts[2] = hash2(3, c4);
    const c8 = this.pos >= 6 ? (this.history[this.pos - 5] << 8) | this.history[this.pos - 6] : 0;
    contexts[3] = hash2(hash2(4, c4), c8);
    contexts[4] = hash2(hash2(5, this.word), this.lastWord);
    const column = this.pos - this.lineStart;
    const above = this.lastLineStart + column < this.lineStart ? this.history[this.lastLineStart + column] : 0;
    const field = this.fieldCount;
    const fieldStart = field === 0 ? this.lineStart : this.fields[field - 1];
    const lastStart = field === 0 ? this.lastLineStart : field <= this.lastFieldCount ? this.lastFields[field - 1] : -1;
    const lastEnd = field < this.lastFieldCount ? this.lastFields[field] : this.lineStart;
    const at = lastStart + this.pos - fieldStart;
    const fieldAbove = lastStart >= 0 && at < lastEnd ? this.history[at] : 0;
    contexts[5] = hash2(hash2(6, above), (Math.min(column, 255) << 8) | (c4 & 0xff));
    contexts[7] = hash2(hash2(8, fieldAbove), (Math.min(field, 63) << 8) | (c4 & 0xff));
    contexts[6] = hash2(hash2(7, this.word), c4 & 0xff);
    contexts[8] = hash2(hash2(9, this.followed[c4 & 0xffff]), c4 & 0xff);
    contexts[9] = hash2(hash2(10, this.fieldHash), Math.min(field, 63));
    let shape = 11;
    for (let k = 0; k < 8; k++) shape = hash2(shape, this.shape[k]);
    contexts[10] = shape;
    this.expectedByte = this.matchLength > 0 ? this.history[this.matchPtr] : -1;
  }

  private predictBit(): void {
    const { inputs, c0, contexts, slots, shift } = this;
    inputs[0] = STRETCH[this.order0.p[c0] >> 4];
    const p1 = this.order1.p[((this.c4 & 0xff) << 8) | c0] >> 4;
    inputs[1] = STRETCH[p1];
    inputs[2 + HASHED] = (p1 - 2048) >> 2;
    const salt = Math.imul(c0, 0x6f4f2a35);
    for (let i = 0; i < HASHED; i++) {
      const slot = (Math.imul(contexts[i] ^ salt, 0x85ebca6b) ^ (c0 << 3)) >>> shift;
      slots[i] = slot;
      const p = this.hashed[i].p[slot] >> 4;
      inputs[2 + i] = STRETCH[p];
      inputs[3 + HASHED + i] = (p - 2048) >> 2;
    }
    let lengthBucket = 0;
    if (this.expectedByte >= 0 && ((this.expectedByte | 256) >> (8 - this.bitCount)) === c0) {
      const expected = (this.expectedByte >> (7 - this.bitCount)) & 1;
      const s = STRETCH[this.matchCounters.p[this.matchSlot() * 2 + expected] >> 4];
      inputs[INPUTS - 2] = s;
      lengthBucket = this.matchLength < 16 ? 1 : this.matchLength < 32 ? 2 : 3;
    } else {
      this.expectedByte = -1;
      inputs[INPUTS - 2] = 0;
    }
    inputs[INPUTS - 1] = 256;
    this.weightSet = lengthBucket * 256 + c0;
    this.weightSet2 = 1024 + ((this.c4 & 0xff) << 3) + this.bitCount;
    const s1 = this.dot(this.weightSet);
    const s2 = this.dot(this.weightSet2);
    this.mixed1 = squash(s1);
    this.mixed2 = squash(s2);
    const mixed = squash((s1 + s2) >> 1);
    const a0 = this.apmOrder0.refine(mixed, c0);
    const a1 = this.apmOrder1.refine(mixed, ((this.c4 & 0xff) << 8) | c0);
    const a2 = this.apmMatch.refine(mixed, Math.min(this.matchLength, 7) * 256 + c0);
    const p = (2 * mixed + a0 + 3 * a1 + 2 * a2 + 4) >> 3;
    this.pr = Math.min(4095, Math.max(1, p));
  }
}

/** Where [x1, x2] splits for a bit whose probability of being 1 is p/4096: a 1 keeps [x1, xmid], a 0 [xmid + 1, x2]. */
const split = (x1: number, x2: number, p: number): number => x1 + Math.floor((x2 - x1) / 4096) * p + ((((x2 - x1) % 4096) * p) >> 12);

/**
 * Compresses `bytes` (the whole block) into a cm stream; undefined once, a quarter of the way or more, it projects
 * above `ceiling` bytes (asked every 4 KiB). In C where the addon runs.
 */
export function cmEncode(bytes: Uint8Array): Uint8Array;
export function cmEncode(bytes: Uint8Array, ceiling?: number): Uint8Array | undefined;
export function cmEncode(bytes: Uint8Array, ceiling = Infinity): Uint8Array | undefined {
  const native = nativeEngine();
  return native ? (native.cmEncode(bytes, ceiling) ?? undefined) : cmEncodeReference(bytes, ceiling);
}

/** Decodes a cm stream into exactly `length` bytes, in C where the addon runs. */
export function cmDecode(stream: Uint8Array, length: number): Uint8Array {
  const native = nativeEngine();
  return native ? native.cmDecode(stream, length) : cmDecodeReference(stream, length);
}

/** cmEncode in TypeScript: the reference. */
export function cmEncodeReference(bytes: Uint8Array, ceiling = Infinity): Uint8Array | undefined {
  const giveUp = projectsAbove(ceiling);
  const model = new Predictor(bytes);
  const out: number[] = [];
  let x1 = 0;
  let x2 = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    if ((i & 4095) === 0 && i > 0 && giveUp(8 * out.length, i, bytes.length)) return undefined;
    const c = bytes[i];
    for (let j = 7; j >= 0; j--) {
      const bit = (c >> j) & 1;
      const xmid = split(x1, x2, model.p());
      if (bit) x2 = xmid;
      else x1 = xmid + 1;
      model.update(bit);
      while (((x1 ^ x2) & 0xff000000) === 0) {
        out.push(x2 >>> 24);
        x1 = (x1 << 8) >>> 0;
        x2 = ((x2 << 8) | 255) >>> 0;
      }
    }
  }
  // the fewest bytes that, followed by the zeros a decoder reads past the end, lie in [x1, x2]
  for (let k = 1; k <= 4; k++) {
    const unit = 2 ** (32 - 8 * k);
    const v = Math.ceil(x1 / unit) * unit;
    if (v <= x2) {
      for (let b = 0; b < k; b++) out.push(Math.floor(v / 2 ** (24 - 8 * b)) & 255);
      break;
    }
  }
  return Uint8Array.from(out);
}

/** cmDecode in TypeScript, the reference: a stream that ends early reads as zeros (the frame's hash catches it). */
export function cmDecodeReference(stream: Uint8Array, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const model = new Predictor(bytes);
  let x1 = 0;
  let x2 = 0xffffffff;
  let x = 0;
  let at = 0;
  // An encoder's stream is read at most 3 bytes past its end (as zeros); a decoder that needs more was given a cut one.
  const next = () => {
    if (at >= stream.length + 3) throw new Error('the stream ends early');
    return at < stream.length ? stream[at++] : (at++, 0);
  };
  for (let k = 0; k < 4; k++) x = ((x << 8) | next()) >>> 0;
  for (let i = 0; i < length; i++) {
    let c = 0;
    for (let j = 0; j < 8; j++) {
      const xmid = split(x1, x2, model.p());
      const bit = x <= xmid ? 1 : 0;
      if (bit) x2 = xmid;
      else x1 = xmid + 1;
      c = (c << 1) | bit;
      if (j === 7) bytes[i] = c;
      model.update(bit);
      while (((x1 ^ x2) & 0xff000000) === 0) {
        x1 = (x1 << 8) >>> 0;
        x2 = ((x2 << 8) | 255) >>> 0;
        x = ((x << 8) | next()) >>> 0;
      }
    }
  }
  return bytes;
}
