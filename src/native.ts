// The integer model's native engine (native/integer.c): the same integers as the onnxruntime graph, a step
// without ~1,900 operator dispatches. It is compiled here, once, by the machine's C compiler (cc, or $CC) into
// build/ (or the temporary folder where the package is read-only), and used when that works; otherwise, or
// with LLMC_ENGINE=onnx, the graph runs through onnxruntime. Either gives the same bits (test/integer.test.ts).
// The same addon runs the model on an NVIDIA GPU (native/cuda.c, LLMC_ENGINE=cuda), again with the same bits.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import type { IntegerSpec } from './integer.ts';
import { MIXER_TABLES } from './mixer.ts';
import { MULTIPLIER, type TokenBias } from './bias.ts';
import { codeRows } from './ranks.ts';
import type { Cache, Next } from './model.ts';
import { UserError } from './cli.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['integer.c', 'ranks.c', 'cuda.c', 'cm.c', 'exact.h', 'model.h', 'ranks.h', 'cuda.h', 'cm.h', 'napi.h'].map((file) => join(ROOT, 'native', file));
/** Tokens a previous token keeps a bias for in mixer version 5 (src/bias.ts, PairBias): a new one replaces the lowest. */
export const PAIR_ENTRIES = 32;
/** A question and an answer of the GPU's exact coder (native/cuda.cu): [value or token, candidate (-1: none), x1, x2,
 * the candidate's weight sets when it is not and is the model's first choice (4 each), the slot of its token bias
 * (-1: none), the count of its previous token's entries (mixer version 5, at most PAIR_ENTRIES), their tokens
 * (PAIR_ENTRIES places), their c (as many)]; [token (-1: no interval holds the value), start, frequency, rank, x0,
 * whether the candidate is the first choice, the mixed probability, the entries' final frequencies (PAIR_ENTRIES
 * places)]. */
export const ASK = 14 + 2 * PAIR_ENTRIES;
export const ANSWER = 7 + PAIR_ENTRIES;

/** The GPU's kernels and the header they share with the CPU's engine, which NVRTC compiles when a model first runs there. */
const KERNELS = join(ROOT, 'native', 'cuda.cu');
const EXACT = join(ROOT, 'native', 'exact.h');
// No contraction of a · b + c into one rounding: the coder's float64 steps must round as JavaScript's do.
const FLAGS = ['-O3', '-ffp-contract=off', '-shared', '-fPIC', '-pthread', '-ldl'];

type Handle = object;

interface Addon {
  model(spec: object): Handle;
  cache(model: Handle, rows: number, window: number, threads: number): Handle;
  extend(cache: Handle, ids: Int32Array, length: number, start: number, predict: number, logits: Float32Array, weights: Int32Array): void;
  /** The dot-product kernel this process uses (plain, avx2 or vnni; LLMC_NATIVE_KERNEL picks one). */
  kernel(): string;
  /** Frees a cache's memory now; it refuses calls after. */
  close(cache: Handle): void;
  /** The same on an NVIDIA GPU (native/cuda.c): the model copied there, its kernels compiled from source. */
  cudaModel(model: Handle, source: string, header: string, gpu: number, stretch: Int16Array, squash: Int32Array, multipliers: Int32Array): Handle;
  cudaName(gpu: Handle): string;
  /** The GPUs the driver sees: 0 where there is no driver or none. */
  cudaCount(): number;
  /** The bytes free on GPU `gpu` now (-1 where there is no such GPU). */
  cudaFree(gpu: number): number;
  cudaCache(gpu: Handle, rows: number, window: number): Handle;
  /** The kernels compiled for compute capability `arch` (90: Hopper) by NVRTC, with no GPU: the cubin's bytes. */
  cudaCompile(source: string, header: string, arch: number): number;
  /** As extend; empty logits and weights keep the predictions on the GPU, for cudaCode. */
  cudaExtend: Addon['extend'];
  /** The exact coder on predictions offset, offset + stride, … of the last extend: ASK numbers a question, ANSWER an answer. */
  cudaCode(cache: Handle, asks: Int32Array, count: number, stride: number, offset: number, decoding: number, precision: number, answers: Int32Array): void;
  /** A token bias's slot on the GPU (mixer version 4): b and its rate copied there (upload 1), or b copied back (0). */
  cudaBias(cache: Handle, slot: number, values: Int32Array, rate: number, upload: number): void;
  cudaClose: Addon['close'];
  /** What a cache made with LLMC_CUDA_PROFILE set timed: each kernel's launches and GPU milliseconds (else null). */
  cudaProfile(cache: Handle): Record<string, [number, number]> | null;
  /** Each kernel it timed since the last call as (start ms, end ms, kernel index in cudaProfile's order), on one clock for the whole process (else null). */
  cudaSpans(cache: Handle): Float64Array | null;
  /** The exact coder's row arithmetic (native/ranks.c): the same numbers as src/ranks.ts and the mixer's share. */
  frequencies(weights: Int32Array, freqs: Int32Array, precision: number): number;
  share(freqs: Int32Array, token: number, share: number, total: number): void;
  start(freqs: Int32Array, top: number, token: number): number;
  find(freqs: Int32Array, top: number, cum: number, start: Float64Array): number;
  rank(logits: Float32Array, token: number): number;
  /** The token bias of mixer version 4 (src/bias.ts): a row of weights times e^bias, its learning from a row, and a step's learning applied. */
  biasWeigh(weights: Int32Array, factors: Int32Array, out: Int32Array): void;
  biasLearn(freqs: Int32Array, learned: Int32Array, rate: number, precision: number): void;
  biasSettle(bias: Int32Array, learned: Int32Array, multipliers: Int32Array, factors: Int32Array): void;
  /** The cm coder (native/cm.c): src/cm.ts's stream, or null when it projects above `ceiling` bytes (projectsAbove). */
  cmEncode(bytes: Uint8Array, ceiling: number): Uint8Array | null;
  cmDecode(stream: Uint8Array, length: number): Uint8Array;
}

/** What runs the integer model: the native engine on the CPU or on an NVIDIA GPU, or the graph through onnxruntime. */
export type Engine = 'native' | 'cuda' | 'onnx';
export const ENGINES: readonly Engine[] = ['native', 'cuda', 'onnx'];
export type { Addon as NativeAddon };

/** The engine asked for: the option, else LLMC_ENGINE; undefined lets the native engine run where it builds. */
export function engineAsked(option?: Engine): Engine | undefined {
  const asked = option ?? process.env.LLMC_ENGINE ?? '';
  if (asked === '') return undefined;
  if ((ENGINES as string[]).includes(asked)) return asked as Engine;
  throw new UserError(`LLMC_ENGINE must be native, cuda or onnx, got '${asked}'`);
}

/** A folder this process may write the compiled addon into. */
function buildFolder(): string {
  const own = join(ROOT, 'build');
  try {
    mkdirSync(own, { recursive: true });
    accessSync(own, constants.W_OK);
    return own;
  } catch {
    const shared = join(tmpdir(), `llmc-native-${process.getuid?.() ?? 'user'}`);
    mkdirSync(shared, { recursive: true });
    return shared;
  }
}

/** The C compiler: $CC, else cc. */
const compiler = () => process.env.CC || 'cc';

/**
 * Compiles the addon into `folder` if these sources, compiler and platform have no build there yet; its path. Each
 * thread compiles to a file of its own and renames it into place, so threads and processes that build at once (llmc's
 * frame workers on a machine's first run) each find a whole file.
 */
export function buildAddon(folder = buildFolder()): string {
  const cc = compiler();
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(readFileSync(file));
  const key = hash.update(`${process.platform} ${process.arch} ${cc} ${FLAGS.join(' ')}`).digest('hex').slice(0, 16);
  const file = join(folder, `integer-${key}.node`);
  if (existsSync(file)) return file;
  const headers = join(dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')), 'include');
  const temporary = `${file}.${process.pid}.${threadId}`;
  try {
    execFileSync(cc, [...FLAGS, '-I', headers, '-o', temporary, ...SOURCES.filter((file) => file.endsWith('.c'))], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
  return file;
}

/** One line on why the addon did not build or load. */
function whyNot(err: Error & { code?: string; status?: number; stderr?: Buffer }): string {
  const cc = compiler();
  if (err.code === 'ENOENT') return `no C compiler (${cc}) was found`;
  const said = String(err.stderr ?? '').split('\n').find((line) => /error/i.test(line)) ?? String(err.stderr ?? '').trim().split('\n')[0];
  return err.status !== undefined ? `${cc} exited with status ${err.status}${said ? `: ${said}` : ''}` : err.message.split('\n')[0];
}

let addon: Addon | Error | undefined;

/** The native engine, built on first use; undefined when onnx is asked for, or when it cannot be built and native was not asked for. */
export function nativeEngine(option?: Engine): Addon | undefined {
  const asked = engineAsked(option);
  if (asked === 'onnx') return undefined;
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)(buildAddon()) as Addon;
    } catch (err) {
      addon = new Error(whyNot(err as Error & { code?: string; status?: number; stderr?: Buffer }));
    }
  }
  if (!(addon instanceof Error)) return addon;
  if (asked === 'native') throw new UserError(`the native engine did not build: ${addon.message}`);
  if (asked === 'cuda') throw new UserError(`the CUDA engine needs the native addon, which did not build: ${addon.message}`);
  return undefined;
}

const models = new Map<string, Handle>();

/** The native model of a model folder's integer.json and weights, made once a process. */
export function nativeModel(engine: Addon, dir: string): Handle {
  let model = models.get(dir);
  if (!model) {
    model = engine.model(specOf(dir));
    models.set(dir, model);
  }
  return model;
}

/** The GPU kernels' source (native/cuda.cu) and the header it includes (native/exact.h). */
export const kernels = () => ({ source: readFileSync(KERNELS, 'utf8'), header: readFileSync(EXACT, 'utf8') });

const gpus = new Map<string, Handle>();

/** The model of a folder on GPU `ordinal`, made once a thread; one line on why not (no driver, no GPU, no NVRTC). */
export function cudaModel(engine: Addon, dir: string, ordinal = 0): Handle {
  const key = `${ordinal}:${dir}`;
  let gpu = gpus.get(key);
  if (!gpu) {
    try {
      const { source, header } = kernels();
      gpu = engine.cudaModel(nativeModel(engine, dir), source, header, ordinal, MIXER_TABLES.stretch, MIXER_TABLES.squash, MULTIPLIER);
    } catch (err) {
      throw new UserError(`the CUDA engine cannot run: ${(err as Error).message}`);
    }
    gpus.set(key, gpu);
  }
  return gpu;
}

/** What native/integer.c reads: integer.json's constants as integer arrays, and the weights as they are stored. */
function specOf(dir: string): object {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const spec: IntegerSpec & { positions: number } = JSON.parse(readFileSync(join(dir, 'onnx', 'integer.json'), 'utf8'));
  const files = new Map<string, Buffer>();
  const tensor = (name: string) => {
    const where = spec.files[name];
    if (!files.has(where.location)) files.set(where.location, readFileSync(join(dir, 'onnx', where.location)));
    const bytes = files.get(where.location)!.subarray(Number(where.offset), Number(where.offset) + Number(where.length));
    return { bytes, shape: where.shape };
  };
  const ints = (values: number[]) => Float64Array.from(values);
  const linear = (names: string[], mult: number[], s1: number, s2: number) => {
    const mats = names.map(tensor);
    return { mats: mats.map(({ bytes }) => new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length)), shape: ints([mats[0].shape[0], s1, s2, ...mats.map((m) => m.shape[1])]), mult: ints(mult) };
  };
  const { embedding, head, tables } = spec;
  const emb = tensor(embedding.weights).bytes;
  return {
    dims: ints([config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim, config.intermediate_size, config.vocab_size, spec.layers.length, spec.positions, spec.R, spec.Q, spec.eps, embedding.zero, embedding.mult, embedding.shift, head.mult, head.shift, head.final_shift, head.column_shift]),
    rsqrt: ints(tables.rsqrt),
    attnExp: ints(tables.attn_exp),
    headExp: ints(tables.head_exp),
    sigmoid: ints(tables.sigmoid),
    cos: ints(spec.cos.flat()),
    sin: ints(spec.sin.flat()),
    gainFinal: ints(spec.gain_final),
    embedding: new Uint8Array(emb.buffer, emb.byteOffset, emb.length),
    head: linear([head.weights], head.column_mult, 0, 0),
    layers: spec.layers.map((layer) => ({
      shifts: ints([...layer.shifts, layer.attn.shift]),
      gain1: ints(layer.gain1),
      gain2: ints(layer.gain2),
      qkv: linear(layer.qkv.weights, layer.qkv.mult, layer.qkv.s1, layer.qkv.s2),
      o: linear(layer.o.weights, layer.o.mult, layer.o.s1, layer.o.s2),
      gateUp: linear(layer.gate_up.weights, layer.gate_up.mult, layer.gate_up.s1, layer.gate_up.s2),
      down: linear(layer.down.weights, layer.down.mult, layer.down.s1, layer.down.s2),
    })),
  };
}

/**
 * The keys and values of `rows` streams, kept by the native engine (in this process's memory, or on the GPU), with
 * the engine's calls that extend and free them; the predictions come back in arrays reused call after call.
 */
export class NativeCache implements Cache {
  private logits = new Float32Array(0);
  private weights = new Int32Array(0);

  private answers = new Int32Array(0);
  /** The CPU's engine: the last extend's predictions, kept for code. */
  private kept?: { logits: Float32Array; weights: Int32Array };
  /** The token biases `code`'s questions name by slot (bind). */
  private biases: TokenBias[] = [];

  constructor(
    private readonly calls: Pick<Addon, 'extend' | 'close'> & { code?: Addon['cudaCode']; bias?: Addon['cudaBias']; profile?: Addon['cudaProfile']; spans?: Addon['cudaSpans'] },
    private readonly cache: Handle,
    private readonly rows: number,
    private readonly vocab: number,
  ) {}

  async extend(ids: BigInt64Array, length: number, start: number, { predict = 1, keep = false } = {}): Promise<Next> {
    if (keep && this.calls.code) {
      this.calls.extend(this.cache, Int32Array.from(ids, Number), length, start, predict, new Float32Array(0), new Int32Array(0));
      return {};
    }
    const size = this.rows * predict * this.vocab;
    if (this.logits.length < size) {
      this.logits = new Float32Array(size);
      this.weights = new Int32Array(size);
    }
    const logits = this.logits.subarray(0, size);
    const weights = this.weights.subarray(0, size);
    this.calls.extend(this.cache, Int32Array.from(ids, Number), length, start, predict, logits, weights);
    this.kept = keep ? { logits, weights } : undefined;
    return keep ? {} : { logits, weights };
  }

  /**
   * The exact coder, with the mixer's share, on `count` rows of the last extend's predictions, which it kept (the row's
   * prediction stride · r + offset), each with its question (ASK numbers): their answers (ANSWER). The CUDA engine
   * answers on the GPU; the CPU's engine through the twin of that kernel (codeRows).
   */
  code(asks: Int32Array, count: number, stride: number, offset: number, decoding: boolean, precision: number): Int32Array {
    if (this.answers.length < count * ANSWER) this.answers = new Int32Array(count * ANSWER);
    if (this.calls.code) this.calls.code(this.cache, asks, count, stride, offset, decoding ? 1 : 0, precision, this.answers);
    else if (this.kept) codeRows(this.kept.weights, this.kept.logits, this.vocab, asks, count, stride, offset, decoding, precision, this.answers, this.biases);
    else throw new Error('code: the last extend kept no predictions');
    return this.answers;
  }

  /**
   * The token biases (mixer version 4) that `code`'s questions name, slot i being biases[i], until unbind: the GPU
   * weighs and learns with its own copies, which unbind brings back; the CPU's twin uses these.
   */
  bind(biases: TokenBias[]): void {
    this.biases = biases;
    if (this.calls.bias) biases.forEach((bias, slot) => this.calls.bias!(this.cache, slot, bias.values, bias.rate, 1));
  }

  unbind(): void {
    if (this.calls.bias) this.biases.forEach((bias, slot) => (this.calls.bias!(this.cache, slot, bias.values, bias.rate, 0), bias.changed()));
    this.biases = [];
  }

  /** The CUDA engine's kernel times for this cache, when LLMC_CUDA_PROFILE was set as it was made (bench/gpusteps.ts). */
  profile(): Record<string, [number, number]> | null {
    return this.calls.profile?.(this.cache) ?? null;
  }

  /** The kernels' spans since the last call, on the process's one clock, when profiled as above. */
  spans(): Float64Array | null {
    return this.calls.spans?.(this.cache) ?? null;
  }

  close(): void {
    this.calls.close(this.cache);
    this.logits = new Float32Array(0);
    this.weights = new Int32Array(0);
  }
}
