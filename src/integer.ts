// The integer model of docs/INTEGER.md in plain TypeScript, one position at a time, with no onnxruntime: the
// independent implementation that the tests hold the graph (onnx/integer.onnx) to, bit for bit, and the one
// train/calibrate.ts measures activations with. Every value is an integer held in a JavaScript number; each
// operation checks that it stays below 2^53, where a number holds every integer exactly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Linear {
  weights: string[];
  mult: number[];
  s1: number;
  s2: number;
}

interface Layer {
  shifts: [number, number, number];
  gain1: number[];
  gain2: number[];
  qkv: Linear;
  o: Linear;
  gate_up: Linear;
  down: Linear;
  attn: { shift: number };
}

/** onnx/integer.json: the integer model's constants and where its weights lie. */
export interface IntegerSpec {
  arithmetic: string;
  R: number;
  Q: number;
  eps: number;
  layers: Layer[];
  gain_final: number[];
  embedding: { weights: string; zero: number; mult: number; shift: number };
  head: { weights: string; column_mult: number[]; column_shift: number; mult: number; shift: number; final_shift: number };
  tables: { rsqrt: number[]; attn_exp: number[]; head_exp: number[]; sigmoid: number[] };
  cos: number[][];
  sin: number[][];
  files: Record<string, { shape: number[]; dtype: string; location: string; offset: string; length: string }>;
}

const GAIN_BITS = 12;
const TRIG_BITS = 14;
const RSQRT_BITS = 24;
const SIG_BITS = 15;
const PROB_BITS = 12;
const Q_LIMIT = 511;
const V_LIMIT = 2047;

function safe(v: number): number {
  if (!Number.isSafeInteger(v)) throw new Error(`integer model: ${v} is outside the exact range of a number`);
  return v;
}

/** floor(n / d) for integers, exactly (d > 0). */
function floorDiv(n: number, d: number): number {
  let q = Math.floor(safe(n) / d);
  if (safe(q * d) > n) q--;
  else if ((q + 1) * d <= n) q++;
  return q;
}

/** floor((n + floor(d / 2)) / d): n / d rounded half up (n >= 0, d > 0). */
const rdiv = (n: number, d: number) => floorDiv(n + Math.floor(d / 2), d);

/** v * 2^-s rounded to the nearest integer, half to even. */
function shr(v: number, s: number): number {
  if (s <= 0) return safe(v * 2 ** -s);
  const unit = 2 ** s;
  const q = floorDiv(v, unit);
  const twiceRest = 2 * (v - q * unit);
  return twiceRest > unit || (twiceRest === unit && q % 2 !== 0) ? q + 1 : q;
}

const clamp = (v: number, limit: number) => Math.max(-limit, Math.min(limit, v));

/** The row's largest |x|, at least 1. */
const maxAbs = (x: ArrayLike<number>) => {
  let a = 1;
  for (let i = 0; i < x.length; i++) a = Math.max(a, Math.abs(x[i]));
  return a;
};

/** round(127 x / a) for each x, |x| <= a, rounded half up. */
const quant8 = (x: ArrayLike<number>, a: number) => Array.from(x, (v) => floorDiv(254 * v + 257 * a, 2 * a) - 128);

/** A row in units of 2^-unitBits quantized to int8, with its factor PHI = round(a 2^(Q - unitBits) / 127), a = max |x|. */
function quantizeRow(x: number[], unitBits: number, Q: number): [number[], number] {
  const a = maxAbs(x);
  return [quant8(x, a), rdiv(a * 2 ** Q, 127 * 2 ** unitBits)];
}

/**
 * An int8 matrix [K, N] with each column brought to 7 bits: round(63 w / peak) with peak = max(63, the column's
 * largest |w|), rounded half up, so that a column already within 7 bits is unchanged.
 */
function sevenBits(w: Int8Array, [K, N]: number[]): Int8Array {
  const out = new Int8Array(w.length);
  for (let j = 0; j < N; j++) {
    let peak = 63;
    for (let i = 0; i < K; i++) peak = Math.max(peak, Math.abs(w[i * N + j]));
    for (let i = 0; i < K; i++) out[i * N + j] = floorDiv(126 * w[i * N + j] + 129 * peak, 2 * peak) - 64;
  }
  return out;
}

/** Largest |q|, |k| and |v| per layer before their shifts (units of 2^-R), for calibration. */
export interface Extremes {
  q: number;
  k: number;
  v: number;
}

/** One stream's keys and values so far, per layer: [position][kv head][dim]. */
export type ReferenceCache = { keys: number[][][]; values: number[][][] }[];

export class IntegerReference {
  readonly spec: IntegerSpec;
  readonly extremes: Extremes[];
  private readonly mats = new Map<string, Int8Array | Uint8Array>();
  private readonly D: number;
  private readonly H: number;
  private readonly Hk: number;
  private readonly dh: number;
  private readonly F: number;
  readonly vocab: number;

  constructor(readonly dir: string) {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    this.spec = JSON.parse(readFileSync(join(dir, 'onnx', 'integer.json'), 'utf8'));
    [this.D, this.H, this.Hk, this.dh, this.F, this.vocab] = [config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim, config.intermediate_size, config.vocab_size];
    const files = new Map<string, Buffer>();
    for (const [name, where] of Object.entries(this.spec.files)) {
      if (!files.has(where.location)) files.set(where.location, readFileSync(join(dir, 'onnx', where.location)));
      const bytes = files.get(where.location)!.subarray(Number(where.offset), Number(where.offset) + Number(where.length));
      const copy = new Uint8Array(bytes);
      this.mats.set(name, where.dtype === 'int8' ? sevenBits(new Int8Array(copy.buffer), where.shape) : copy);
    }
    this.extremes = this.spec.layers.map(() => ({ q: 0, k: 0, v: 0 }));
  }

  newCache(): ReferenceCache {
    return this.spec.layers.map(() => ({ keys: [], values: [] }));
  }

  /** x (a row in [-127, 127]) times the named matrices (7 bits) side by side ([K, N] each, row-major), exact sums. */
  private matmul(x: number[], names: string[]): number[] {
    const out: number[] = [];
    for (const name of names) {
      const w = this.mats.get(name)!;
      const [K, N] = this.spec.files[name].shape;
      const acc = new Array<number>(N).fill(0);
      for (let i = 0; i < K; i++) {
        const xi = x[i];
        if (xi === 0) continue;
        for (let j = 0; j < N; j++) acc[j] += xi * w[i * N + j];
      }
      out.push(...acc);
    }
    return out;
  }

  /** A linear layer on a quantized row with row factor phi: units of 2^-R out. */
  private linear(q: number[], phi: number, lin: Linear): number[] {
    return this.matmul(q, lin.weights).map((acc, j) => shr(shr(acc * lin.mult[j], lin.s1) * phi, lin.s2));
  }

  /** RMSNorm with its gain, quantized to int8: the row and its factor PHI (units of 2^-Q). */
  private normq(x: number[], gain: number[]): [number[], number] {
    const { Q, eps, tables } = this.spec;
    const xg = x.map((v, i) => shr(v * gain[i], GAIN_BITS));
    const a = maxAbs(xg);
    let ss = 0;
    for (const v of x) ss = safe(ss + v * v);
    const ms = floorDiv(ss, x.length) + eps;
    let bits = 0;
    while (bits < 63 && ms >= 2 ** bits) bits++;
    const e = Math.floor((Math.max(bits, 12) - 11) / 2);
    const m = floorDiv(ms, 4 ** e);
    return [quant8(xg, a), rdiv(a * tables.rsqrt[m], 127 * 2 ** (RSQRT_BITS + e - Q))];
  }

  /** Rotates one head's vector at `position` and scales it to the operand range: q or k. */
  private rotate(v: number[], position: number, shift: number): { out: number[]; peak: number } {
    const half = this.dh / 2;
    const cos = this.spec.cos[position];
    const sin = this.spec.sin[position];
    let peak = 0;
    const out = v.map((x, j) => {
      const p = j % half;
      const rotated = j < half ? x * cos[p] - v[j + half] * sin[p] : x * cos[p] + v[j - half] * sin[p];
      peak = Math.max(peak, Math.abs(rotated) / 2 ** TRIG_BITS);
      return clamp(shr(rotated, TRIG_BITS + shift), Q_LIMIT);
    });
    return { out, peak };
  }

  /**
   * Feeds `token` at `position` after the positions in `cache` (which it extends), and returns the next token's
   * integer logits (the head's sums) and weights (exp of the logits, which the coder normalises).
   */
  step(token: number, position: number, cache: ReferenceCache): { logits: number[]; weights: number[] } {
    const { spec, D, H, Hk, dh, F } = this;
    const { R, Q, tables } = spec;
    const emb = this.mats.get(spec.embedding.weights)!;
    let x = Array.from({ length: D }, (_, i) => shr((emb[token * D + i] - spec.embedding.zero) * spec.embedding.mult, spec.embedding.shift));
    const groups = H / Hk;
    spec.layers.forEach((layer, l) => {
      const [sq, sk, sv] = layer.shifts;
      const extremes = this.extremes[l];
      const [q8, phi] = this.normq(x, layer.gain1);
      const qkv = this.linear(q8, phi, layer.qkv);
      const keys: number[][] = [];
      const values: number[][] = [];
      for (let h = 0; h < Hk; h++) {
        const k = this.rotate(qkv.slice((H + h) * dh, (H + h + 1) * dh), position, sk);
        extremes.k = Math.max(extremes.k, k.peak);
        keys.push(k.out);
        const v = qkv.slice((H + Hk + h) * dh, (H + Hk + h + 1) * dh);
        extremes.v = Math.max(extremes.v, maxAbs(v));
        values.push(v.map((y) => clamp(shr(y, sv), V_LIMIT)));
      }
      const c = cache[l];
      c.keys.push(keys);
      c.values.push(values);
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        const qh = this.rotate(qkv.slice(h * dh, (h + 1) * dh), position, sq);
        extremes.q = Math.max(extremes.q, qh.peak);
        const kv = Math.floor(h / groups);
        const scores = c.keys.map((ks) => ks[kv].reduce((s, kj, j) => s + kj * qh.out[j], 0));
        const top = Math.max(...scores);
        const e = scores.map((s) => tables.attn_exp[Math.min(shr(top - s, layer.attn.shift), tables.attn_exp.length - 1)]);
        const inv = floorDiv(2 ** 36, e.reduce((a, b) => a + b, 0));
        const p = e.map((ei) => floorDiv(ei * inv, 2 ** (36 - PROB_BITS)));
        for (let j = 0; j < dh; j++) o.push(p.reduce((s, pt, t) => s + pt * c.values[t][kv][j], 0));
      }
      const attnOut = this.linear(...quantizeRow(o, PROB_BITS + R - sv, Q), layer.o);
      x = x.map((v, i) => v + attnOut[i]);

      const [m8, phi2] = this.normq(x, layer.gain2);
      const gu = this.linear(m8, phi2, layer.gate_up);
      const hidden = Array.from({ length: F }, (_, j) => {
        const gate = gu[j];
        const index = Math.max(0, Math.min(tables.sigmoid.length - 1, shr(gate, R - 8) + tables.sigmoid.length / 2));
        return shr(shr(gate * tables.sigmoid[index], SIG_BITS) * gu[F + j], R);
      });
      const mlpOut = this.linear(...quantizeRow(hidden, R, Q), layer.down);
      x = x.map((v, i) => v + mlpOut[i]);
    });
    const [f8, phiF] = this.normq(x, spec.gain_final);
    const { head } = spec;
    const logits = this.matmul(f8, [head.weights]).map((acc, j) => shr(acc * head.column_mult[j], head.column_shift));
    const top = Math.max(...logits);
    const perRow = shr(phiF * spec.head.mult, spec.head.shift);
    const weights = logits.map((a) => tables.head_exp[Math.min(shr((top - a) * perRow, spec.head.final_shift), tables.head_exp.length - 1)]);
    return { logits, weights };
  }
}
