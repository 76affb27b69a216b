// Loads a causal language model (a transformers.js / ONNX folder) and steps it token by token with its
// key/value cache, several independent rows at once. Encoder and decoder drive it through the same calls,
// so they run the same computations on tensors of the same shapes, and see bit-identical logits.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { bytePairTokenizerOf } from './bpe.ts';
import { printable, UserError } from './cli.ts';
import { cudaModel, type Engine, engineAsked, NativeCache, nativeEngine, nativeModel } from './native.ts';
import { type RowGraph, RowWorkers, sessionsFor } from './rows.ts';
import { type ByteVocabulary, byteVocabularyOf } from './tokenize.ts';

export const MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'models');
export const DEFAULT_MODEL = 'llmc-base-v7';

export type Dtype = 'fp32' | 'q8';
export type Device = 'cpu' | 'webgpu' | 'cuda';

/**
 * The graphs a model folder may have: the integer graph (the default: the stepper's interface, computed in
 * integers, so it gives the same bits on every machine: docs/INTEGER.md), the stepper graph (the same in float
 * arithmetic: it reads a cache the JavaScript side keeps, and gives logits and probabilities), the coder graph (a
 * device's: the cache stays on the device, and the graph computes the exact coder's intervals itself) and the
 * transformers.js graph (the fallback).
 */
export type GraphKind = 'integer' | 'stepper' | 'coder' | 'transformers';

export interface ModelOptions {
  dtype?: Dtype;
  device?: Device;
  threads?: number;
  /** The graph to run (default: the coder graph on a GPU, the integer graph on the CPU, else transformers.js's). */
  graph?: GraphKind;
  /** The first cache's rows, when known: if they will be split, the workers start while the model loads. */
  firstCache?: { rows: number; feeding: boolean };
  /** What computes the integer graph (default: LLMC_ENGINE, else the native engine on the CPU where it builds). */
  engine?: Engine;
  /** The CUDA engine's GPU, by the driver's numbering (default 0). */
  gpu?: number;
}

export interface Tokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  decode(ids: number[], options?: object): string;
}

export interface LanguageModel {
  name: string;
  dir: string;
  vocabSize: number;
  /** The context window the pipeline uses unless told otherwise (config.json llmc.window). */
  defaultWindow: number;
  /** Token that starts every row (<|endoftext|>). */
  bos: number;
  dtype: Dtype;
  device: Device;
  /** The graph file under onnx/ that runs, and its kind. */
  graph: string;
  graphKind: GraphKind;
  /** What computes it: onnxruntime, or for the integer graph the native engine, on the CPU or a GPU (src/native.ts). */
  engine: Engine;
  /** Whether the exact coder runs where the model does (the CUDA engine), answering a few numbers a row (NativeCache.code). */
  codesOnDevice: boolean;
  /** SHA-256 of the files that decide the probabilities: config, tokenizer, the graph (an integer graph: its
   * specification, integer.json) and its weights. */
  fingerprint: Uint8Array;
  /** 'integer-1' where every machine computes the same bits (the integer graph), else 'float' (the runtime's). */
  arithmetic: string;
  /** The most positions the graph can take (the integer graph's rotary table), if it has a limit. */
  maxWindow?: number;
  tokenizer: Tokenizer;
  /** The vocabulary as bytes (byte-level BPE folders), which lets any bytes be tokenized and restored exactly. */
  vocabulary: ByteVocabulary | undefined;
  /**
   * An empty key/value cache for `rows` streams of up to `window` positions; the coder graph's cache also needs
   * the coder's precision; `feeding`: the caller feeds many positions a call (an encoder).
   */
  newCache(rows: number, window: number, precision?: number, feeding?: boolean): Cache;
  /** The bytes of the keys and values such a cache holds when full (what a decoder checks against --memory). */
  cacheBytes(rows: number, window: number): number;
}

/** Whether `name` (from an untrusted file: a plain name, never a path) is one of the models shipped under models/. */
export function embeddedModel(name: string): boolean {
  return /^[\w.-]+$/.test(name) && !name.startsWith('.') && existsSync(join(MODELS_DIR, name, 'config.json'));
}

/**
 * Finds a model folder: a path to a folder, or the name of one under models/. A name that is neither is
 * taken as a Hugging Face hub id, and only then may transformers.js go to the network.
 */
export function resolveModel(nameOrPath: string = DEFAULT_MODEL): { dir: string; remote: boolean } {
  for (const candidate of [nameOrPath, join(MODELS_DIR, nameOrPath)]) {
    if (existsSync(join(candidate, 'config.json'))) return { dir: resolve(candidate), remote: false };
  }
  if (/^[\w.-]+\/[\w.-]+$/.test(nameOrPath) && !existsSync(nameOrPath)) return { dir: nameOrPath, remote: true };
  throw new UserError(`no model '${nameOrPath}': not a folder with config.json, nor a name under ${MODELS_DIR}`);
}

/** The graph file of each kind and dtype, under onnx/; a graph may keep its weights in a file beside it. */
const GRAPH_FILE = {
  integer: { fp32: 'integer.onnx', q8: 'integer.onnx' },
  stepper: { fp32: 'stepper.onnx', q8: 'stepper_quantized.onnx' },
  coder: { fp32: 'coder.onnx', q8: 'coder_quantized.onnx' },
  transformers: { fp32: 'model.onnx', q8: 'model_quantized.onnx' },
} as const;

/**
 * The graph a folder runs: the one asked for, else the device's choice, else the transformers.js graph. The integer
 * graph has int8 weights whatever the folder ships, and is the CPU's choice unless fp32 is asked for.
 */
function graphOf(dir: string, dtype: Dtype | undefined, device: Device = 'cpu', asked?: GraphKind): { file: string; kind: GraphKind; dtype: Dtype } | undefined {
  const integer = existsSync(join(dir, 'onnx', GRAPH_FILE.integer.q8));
  if (asked === 'integer' || (!asked && device === 'cpu' && dtype !== 'fp32' && integer)) return integer ? { file: GRAPH_FILE.integer.q8, kind: 'integer', dtype: 'q8' } : undefined;
  const kinds: GraphKind[] = asked ? [asked] : device === 'cpu' ? ['stepper', 'transformers'] : ['coder', 'stepper', 'transformers'];
  const d = dtype ?? defaultDtype(dir);
  const kind = kinds.find((k) => existsSync(join(dir, 'onnx', GRAPH_FILE[k][d])));
  return kind && { file: GRAPH_FILE[kind][d], kind, dtype: d };
}

/** The dtype a folder's float graphs come in: fp32 when it has them, else int8. */
function defaultDtype(dir: string): Dtype {
  return (['stepper', 'transformers'] as const).some((k) => existsSync(join(dir, 'onnx', GRAPH_FILE[k].fp32))) ? 'fp32' : 'q8';
}

/** The tokenizer of a model, with the name and vocabulary size its documents record. */
export async function loadTokenizer(nameOrPath?: string): Promise<{
  tokenizer: Tokenizer;
  /** The vocabulary as bytes (byte-level BPE folders), which lets any bytes be tokenized and restored exactly. */
  vocabulary: ByteVocabulary | undefined;
  dir: string;
  remote: boolean;
  name: string;
  vocabSize: number;
  config: ModelConfig;
}> {
  return openTokenizer(nameOrPath);
}

/**
 * The tokenizer, config and byte view of the vocabulary, each file read once. A folder's plain byte-level BPE is read
 * here (src/bpe.ts); transformers.js, imported only then, reads any other kind, and hub ids.
 */
async function openTokenizer(nameOrPath?: string) {
  const { dir, remote } = resolveModel(nameOrPath);
  const local = (file: string) => (!remote && existsSync(join(dir, file)) ? JSON.parse(readFileSync(join(dir, file), 'utf8')) : undefined);
  let config: ModelConfig | undefined = local('config.json');
  const tokenizerJson = local('tokenizer.json');
  const vocabulary: ByteVocabulary | undefined = tokenizerJson && byteVocabularyOf(tokenizerJson);
  let tokenizer = vocabulary && bytePairTokenizerOf(tokenizerJson, vocabulary);
  if (!config || !tokenizer) {
    const { AutoConfig, AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = remote;
    tokenizer ??= (await AutoTokenizer.from_pretrained(dir, { local_files_only: !remote })) as unknown as Tokenizer;
    config ??= (await AutoConfig.from_pretrained(dir, { local_files_only: !remote })) as unknown as ModelConfig;
  }
  return { tokenizer, vocabulary, dir, remote, name: config.llmc?.name ?? dir, vocabSize: config.vocab_size, config };
}

/**
 * What, besides the model files, decides the probabilities bit for bit: the onnxruntime build, the device,
 * and on a CPU the widest instruction set its kernels use. Recorded in the header; a decoder on another
 * runtime warns, and the original's hash settles whether its output is right.
 */
export function runtimeOf(device: Device): string {
  let isa: string = process.arch;
  if (process.platform === 'linux' && process.arch === 'x64') {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? [];
    isa += '-' + (['avx512_vnni', 'avx512f', 'avx_vnni', 'avx2', 'avx'].find((f) => flags.includes(f)) ?? 'sse');
  }
  return `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common} ${device} ${isa}`;
}

/** The fields of config.json read here. */
interface ModelConfig {
  vocab_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  hidden_size: number;
  head_dim?: number;
  max_position_embeddings?: number;
  bos_token_id?: number;
  llmc?: { name?: string; window?: number };
}

/** What a document to decode says of its model: the name it was made with, and its fingerprint (or its first bytes). */
export interface RecordedModel {
  modelName: string;
  modelFingerprint?: string;
  dtype?: string;
  graph?: string;
}

/**
 * The model to decode a document with when the user names none: the shipped model it names, or (a solo record names
 * none) the one whose fingerprint it begins with, so that files of an earlier default decode without -n; else the
 * default. Only folders under models/ are taken this way: a file never points the decoder at a path or a host.
 */
export function modelFor(doc: RecordedModel): string {
  if (doc.modelName) return embeddedModel(doc.modelName) ? doc.modelName : DEFAULT_MODEL;
  return (doc.modelFingerprint && embeddedModelWith(doc.modelFingerprint)) || DEFAULT_MODEL;
}

/** The model named (by default modelFor's), in the graph a document was coded with (or the one asked for). */
export async function loadModelFor(doc: RecordedModel, name: string | undefined, options: ModelOptions): Promise<LanguageModel> {
  const graph = options.graph ?? (doc.graph as GraphKind | undefined);
  const dtype = options.dtype ?? (graph === 'integer' ? undefined : (doc.dtype as Dtype | undefined));
  const { dir } = resolveModel(name ?? modelFor(doc));
  if ((dtype || graph) && existsSync(dir) && !graphOf(dir, dtype, options.device, graph)) {
    const kind = [dtype, graph].filter(Boolean).join(' ');
    // an encoder's document names no model yet: the graph is the one its options asked for
    throw new UserError(doc.modelName ? `wrong model: the input was coded with the ${kind} graph of ${printable(doc.modelName)}, and ${dir} has no such graph` : `model ${dir} has no ${kind} graph (asked by --dtype or --graph)`);
  }
  return loadModel(dir, { ...options, dtype, graph });
}

/** What the runtime needs of onnx/integer.json: the arithmetic version, the positions covered, the head's exp table. */
interface IntegerHead {
  arithmetic: string;
  positions: number;
  /** Each column's multiplier of its sum, in units of 2^-columnShift (logit = shr(sum · multiplier, shift)). */
  columnMult: Float64Array;
  columnShift: number;
  exp: Int32Array;
  shift: number;
}

function integerHeadOf(dir: string): IntegerHead {
  const spec = JSON.parse(readFileSync(join(dir, 'onnx', 'integer.json'), 'utf8'));
  const { head, tables } = spec;
  return { arithmetic: spec.arithmetic, positions: spec.positions, columnMult: Float64Array.from(head.column_mult), columnShift: head.column_shift, exp: Int32Array.from(tables.head_exp), shift: head.final_shift };
}

/** The files a graph of `dtype` runs from: itself and, when there, the weights files it reads. */
function graphFiles(dir: string, graph: string, dtype: Dtype): string[] {
  const data = graph === GRAPH_FILE.integer.q8 ? ['integer.onnx_data', 'model_quantized.onnx_data'] : [`${GRAPH_FILE.transformers[dtype]}_data`];
  return [graph, ...data].map((file) => join(dir, 'onnx', file)).filter((file) => existsSync(file));
}

export async function loadModel(nameOrPath?: string, options: ModelOptions = {}): Promise<LanguageModel> {
  const { tokenizer, vocabulary, dir, remote, name, vocabSize, config } = await openTokenizer(nameOrPath);
  const device = options.device ?? 'cpu';
  const chosen = remote ? { file: GRAPH_FILE.transformers[options.dtype ?? 'fp32'], kind: 'transformers' as const, dtype: options.dtype ?? 'fp32' } : graphOf(dir, options.dtype, device, options.graph);
  if (!chosen) {
    const d = options.dtype ?? defaultDtype(dir);
    const wanted = options.graph ? [options.graph] : (['integer', 'stepper', 'coder', 'transformers'] as const);
    throw new UserError(`model ${dir} has no ${options.graph === 'integer' ? '' : `${d} `}graph (${wanted.map((k) => `onnx/${GRAPH_FILE[k][d]}`).join(' or ')})`);
  }
  const { file: graph, dtype } = chosen;
  checkDevice(device);
  const shape = cacheShapeOf(config);
  const head = chosen.kind === 'integer' ? integerHeadOf(dir) : undefined;
  let newCache: LanguageModel['newCache'];
  const native = chosen.kind === 'integer' && device === 'cpu' ? nativeEngine(options.engine) : undefined;
  const onGpu = native && engineAsked(options.engine) === 'cuda';
  if (onGpu) {
    const gpu = cudaModel(native, dir, options.gpu ?? 0);
    newCache = (rows, window) => new NativeCache({ extend: native.cudaExtend, close: native.cudaClose, code: native.cudaCode, bias: native.cudaBias, profile: native.cudaProfile, spans: native.cudaSpans }, native.cudaCache(gpu, rows, window), rows, vocabSize);
  } else if (native) {
    const model = nativeModel(native, dir);
    const threads = sessionsFor(options.threads);
    newCache = (rows, window) => new NativeCache(native, native.cache(model, rows, window, threads), rows, vocabSize);
  } else if (chosen.kind === 'integer' && device === 'cpu') {
    // Exact arithmetic: rows may go to sessions side by side (src/rows.ts), each of one thread.
    const sessions = sessionsFor(options.threads);
    const workers = sessions > 1 ? new RowWorkers({ dir, graph }, sessions - 1) : undefined;
    // Workers that will be needed open their sessions while this thread opens its own (the other cores are idle
    // meanwhile); one that is not needed would only hold up a short run's exit.
    if (workers && options.firstCache && workers.sharesOf(options.firstCache.rows, options.firstCache.feeding) > 1) workers.start();
    const session = await createSession(join(dir, 'onnx', graph), 1);
    const own = (window: number) => (rows: number) => new SlotCache(session, rows, shape, vocabSize, window, head);
    newCache = (rows, window, _precision, feeding) => (workers ? workers.cache(own(window), rows, window, vocabSize, feeding) : own(window)(rows));
  } else if (chosen.kind !== 'transformers') {
    const onDevice = chosen.kind === 'coder' && device !== 'cpu';
    // The coder graph's cache stays where it was computed, and goes back in as the next step's input.
    const session = await createSession(join(dir, 'onnx', graph), options.threads ?? 0, device, onDevice ? Object.fromEntries(cacheNames(shape, 'updated').map((n) => [n, 'gpu-buffer' as const])) : undefined);
    newCache = chosen.kind !== 'coder' ? (rows, window) => new SlotCache(session, rows, shape, vocabSize, window, head) : (rows, _window, precision) => new DeviceCache(session, rows, shape, precision);
  } else {
    const forward = await loadTransformersGraph(dir, { ...options, dtype });
    const { Tensor } = await import('@huggingface/transformers');
    newCache = (rows) => new PresentCache(forward, Tensor, rows, vocabSize);
  }
  return {
    name,
    dir,
    vocabSize,
    defaultWindow: config.llmc?.window ?? config.max_position_embeddings ?? 1024,
    bos: config.bos_token_id ?? 0,
    dtype,
    device,
    graph,
    graphKind: chosen.kind,
    engine: onGpu ? 'cuda' : native ? 'native' : 'onnx',
    codesOnDevice: Boolean(onGpu),
    fingerprint: remote ? new Uint8Array(createHash('sha256').update(dir + dtype).digest()) : fingerprintOf(dir, chosen.kind, graph, dtype),
    arithmetic: head?.arithmetic ?? 'float',
    maxWindow: head?.positions,
    tokenizer,
    vocabulary,
    newCache,
    // the native engines keep 16-bit keys and values, the graphs 32-bit floats
    cacheBytes: (rows, window) => rows * window * shape.layers * shape.kvHeads * shape.headDim * 2 * (native ? 2 : 4),
  };
}

/** Fingerprints hashed in this process (a model's files do not change under it; modelFor and the loader both ask). */
const fingerprints = new Map<string, Uint8Array>();

/**
 * SHA-256 of what decides a model's numbers: its config, tokenizer and graph files. An integer graph is one way to
 * compute what integer.json and the weights specify (docs/INTEGER.md): its fingerprint covers those, so a faster
 * graph of the same model decodes the same files.
 */
function fingerprintOf(dir: string, kind: GraphKind, graph: string, dtype: Dtype): Uint8Array {
  const key = [dir, kind, graph, dtype].join('\0');
  const known = fingerprints.get(key);
  if (known) return known;
  const decisive = kind === 'integer' ? [join(dir, 'onnx', 'integer.json'), ...graphFiles(dir, graph, dtype).slice(1)] : graphFiles(dir, graph, dtype);
  const hash = createHash('sha256');
  for (const file of [join(dir, 'config.json'), join(dir, 'tokenizer.json'), ...decisive]) hash.update(readFileSync(file));
  const fingerprint = new Uint8Array(hash.digest());
  fingerprints.set(key, fingerprint);
  return fingerprint;
}

/** The model shipped under models/ whose integer graph's fingerprint begins with `prefix` (hex), if one does; the default tried first. */
export function embeddedModelWith(prefix: string): string | undefined {
  const names = readdirSync(MODELS_DIR).sort((a, b) => Number(b === DEFAULT_MODEL) - Number(a === DEFAULT_MODEL));
  return names.find((name) => {
    const dir = join(MODELS_DIR, name);
    return existsSync(join(dir, 'onnx', 'integer.json')) && Buffer.from(fingerprintOf(dir, 'integer', GRAPH_FILE.integer.q8, 'q8')).toString('hex').startsWith(prefix);
  });
}

/** An onnxruntime session of a graph file, with `threads` in its pool (0: one per core). */
function createSession(path: string, threads: number, device: Device = 'cpu', preferredOutputLocation?: Record<string, 'gpu-buffer'>): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    // onnxruntime's own log lines would come on top of the one-line error its exceptions give.
    logSeverityLevel: 4,
    // Idle workers must not spin: between steps the coder runs in JavaScript and needs the cores.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...(preferredOutputLocation ? { preferredOutputLocation } : {}),
  });
}

/** A worker thread's view of a model's integer graph (src/rowWorker.ts): caches on a session of one thread. */
export async function openRowGraph({ dir, graph }: RowGraph): Promise<{ newCache(rows: number, window: number): Cache }> {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const shape = cacheShapeOf(config);
  const session = await createSession(join(dir, 'onnx', graph), 1);
  const head = integerHeadOf(dir);
  return { newCache: (rows, window) => new SlotCache(session, rows, shape, config.vocab_size, window, head) };
}

/** Where onnxruntime-node keeps its native libraries (the execution providers among them). */
const ORT_BIN = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);

/** Refuses, in one line and before onnxruntime prints its own errors, a GPU whose runtime pieces are not here. */
function checkDevice(device: Device): void {
  if (device === 'cuda' && !existsSync(join(ORT_BIN, 'libonnxruntime_providers_cuda.so'))) {
    throw new UserError(`no CUDA here: onnxruntime-node's CUDA provider (libonnxruntime_providers_cuda.so) is not in ${ORT_BIN} (README.md, "On a GPU", says how to add it)`);
  }
  const libraryDirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  if (device === 'webgpu' && process.platform === 'linux' && !libraryDirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) {
    throw new UserError('no WebGPU here: it needs a Vulkan loader (libvulkan.so.1, Debian: libvulkan1) and a GPU driver');
  }
}

/** The transformers.js graph of a model, run by transformers.js (the stepper graph is checked against it). */
export async function loadTransformersGraph(nameOrPath: string, options: ModelOptions = {}): Promise<TransformersForward> {
  const { dir, remote } = resolveModel(nameOrPath);
  const { AutoModelForCausalLM } = await import('@huggingface/transformers');
  const model = await AutoModelForCausalLM.from_pretrained(dir, {
    local_files_only: !remote,
    dtype: options.dtype ?? defaultDtype(dir),
    device: options.device ?? 'cpu',
    session_options: { intraOpNumThreads: options.threads ?? 0, interOpNumThreads: 1 },
  } as Parameters<typeof AutoModelForCausalLM.from_pretrained>[1]);
  return model as unknown as TransformersForward;
}

export type TransformersForward = (inputs: Record<string, Tensor | Record<string, Tensor>>) => Promise<Record<string, Tensor>>;

/**
 * A key/value cache for `rows` streams, and the graph that extends it. `extend`
 * runs the graph on `length` new tokens per row (ids row-major) at positions start..start+length-1 after the
 * cache's first `start` positions (start = 0 empties it), and returns what follows the last of them.
 */
export interface Cache {
  /**
   * codes: the coder graph's question per row (the token to code, or the decoder's value); other graphs ignore it.
   * predict: after how many of the last positions of each row to predict the next token (the integer graph only;
   * the others predict after the last): rows × predict predictions, row-major.
   * keep: the CUDA engine keeps the predictions on the GPU for its coder (NativeCache.code), and returns none.
   */
  extend(ids: BigInt64Array, length: number, start: number, ask?: { codes?: Int32Array; predict?: number; keep?: boolean }): Promise<Next>;
  /** Lets go of what the cache holds elsewhere (a worker's share of the rows). */
  close?(): void;
}

/**
 * The model's prediction of the next token in each row. The stepper and transformers.js graphs give logits and
 * their softmax (rows × vocab floats each); the integer graph gives integer logits and integer weights (the
 * exact coder's input, proportional to the probabilities); the coder graph answers its question per
 * row instead: `coded` holds [start, frequency, rank, probability] of the row's code taken as a token, and
 * `decoded` [token, start, frequency, rank, probability] of the token whose interval holds the code (CODED and
 * DECODED floats a row).
 */
export interface Next {
  logits?: Float32Array;
  probs?: Float32Array;
  weights?: Int32Array;
  coded?: Float32Array;
  decoded?: Float32Array;
}

export const CODED = 4;
export const DECODED = 5;

interface CacheShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** A model's cache shape, from its config.json. */
function cacheShapeOf(config: { num_hidden_layers: number; num_key_value_heads?: number; num_attention_heads: number; head_dim?: number; hidden_size: number }): CacheShape {
  return {
    layers: config.num_hidden_layers,
    kvHeads: config.num_key_value_heads ?? config.num_attention_heads,
    headDim: config.head_dim ?? config.hidden_size / config.num_attention_heads,
  };
}

const KV = ['key', 'value'] as const;

/** The names of a graph's cache tensors, layer by layer, key before value. */
function cacheNames(shape: CacheShape, prefix: string): string[] {
  return Array.from({ length: shape.layers }, (_, l) => KV.map((kv) => `${prefix}.${l}.${kv}`)).flat();
}

/** Positions start..start+length-1 for each of `rows` rows. */
function positionIds(rows: number, length: number, start: number): BigInt64Array {
  const positions = new BigInt64Array(rows * length);
  for (let r = 0; r < rows; r++) for (let i = 0; i < length; i++) positions[r * length + i] = BigInt(start + i);
  return positions;
}

/** Slots are added this many at a time: the graph attends to the allocated slots, filled or not. */
const SLOT_BLOCK = 32;

/**
 * The stepper and integer graphs' cache: a block of slots per layer and row that the graph reads in place
 * (slot_mask marks the filled ones), while it returns only the new keys and values, which go into the next slots here. A step
 * moves the new positions and the logits, never the whole cache. The block grows by SLOT_BLOCK slots when it
 * is full, so attention costs what the context holds, not the whole window; a fresh start feeds no slots at all.
 * Large arrays are allocated once and reused call after call (the slots grow in place, the graph writes its
 * logits into ours): a fresh one costs its page faults every time, which on some machines is most of a step.
 */
class SlotCache implements Cache {
  private slots: Float32Array[];
  private mask: Uint8Array;
  private capacity = 0;
  private logits = new Float32Array(0);
  private probs = new Float32Array(0);
  private weights = new Int32Array(0);
  /** Where the graph writes each layer's new keys and values, before they go into the slots. */
  private fresh: Float32Array[] = [];

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly rows: number,
    private readonly shape: CacheShape,
    private readonly vocab: number,
    window: number,
    private readonly head?: IntegerHead,
  ) {
    const most = Math.ceil(window / SLOT_BLOCK) * SLOT_BLOCK;
    this.slots = Array.from({ length: 2 * shape.layers }, () => new Float32Array(rows * shape.kvHeads * most * shape.headDim));
    this.mask = new Uint8Array(rows * most);
  }

  async extend(ids: BigInt64Array, length: number, start: number, { predict = 1 } = {}): Promise<Next> {
    const { rows, shape, vocab } = this;
    const { kvHeads, headDim } = shape;
    if (predict !== 1 && !this.head) throw new Error('only the integer graph predicts after several positions a call');
    if (start === 0) this.capacity = 0;
    const slotCount = this.capacity;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [rows, length]),
      position_ids: new ort.Tensor('int64', positionIds(rows, length, start), [rows, length]),
      slot_mask: new ort.Tensor('bool', this.mask.subarray(0, rows * slotCount), [rows, slotCount]),
      ...(this.head ? { predict: new ort.Tensor('int64', BigInt64Array.of(BigInt(predict)), [1]) } : {}),
    };
    for (let l = 0; l < shape.layers; l++) {
      KV.forEach((kv, k) => {
        feeds[`slots.${l}.${kv}`] = new ort.Tensor('float32', this.slots[2 * l + k].subarray(0, rows * kvHeads * slotCount * headDim), [rows, kvHeads, slotCount, headDim]);
      });
    }
    const size = rows * predict * vocab;
    if (this.logits.length < size) {
      this.logits = new Float32Array(size);
      if (this.head) this.weights = new Int32Array(size);
      else this.probs = new Float32Array(size);
    }
    const logits = this.logits.subarray(0, size);
    const weights = this.weights.subarray(0, size);
    const fetches: Record<string, ort.Tensor | null> = Object.fromEntries(this.session.outputNames.map((name) => [name, null]));
    const freshSize = rows * kvHeads * length * headDim;
    if ((this.fresh[0]?.length ?? 0) < freshSize) this.fresh = Array.from({ length: 2 * shape.layers }, () => new Float32Array(freshSize));
    for (let l = 0; l < shape.layers; l++) {
      KV.forEach((kv, k) => (fetches[`new.${l}.${kv}`] = new ort.Tensor('float32', this.fresh[2 * l + k].subarray(0, freshSize), [rows, kvHeads, length, headDim])));
    }
    // the integer graph's head sums go into the weights' array, which headWeights then overwrites
    if (this.head) fetches.head_sums = new ort.Tensor('int32', weights, [rows, predict, vocab]);
    else {
      fetches.logits = new ort.Tensor('float32', logits, [rows, vocab]);
      fetches.probs = new ort.Tensor('float32', this.probs.subarray(0, size), [rows, vocab]);
    }
    const out = await this.session.run(feeds, fetches as ort.InferenceSession.FetchesType);
    this.reserve(start, start + length);
    const { capacity } = this;
    for (let l = 0; l < shape.layers; l++) {
      KV.forEach((kv, k) => {
        const fresh = this.fresh[2 * l + k];
        const slots = this.slots[2 * l + k];
        for (let rh = 0; rh < rows * kvHeads; rh++) {
          slots.set(fresh.subarray(rh * length * headDim, (rh + 1) * length * headDim), (rh * capacity + start) * headDim);
        }
      });
    }
    for (let r = 0; r < rows; r++) this.mask.fill(1, r * capacity + start, r * capacity + start + length);
    if (!this.head) return { logits, probs: this.probs.subarray(0, size) };
    headWeights(weights, out.head_scale.data as BigInt64Array, this.head, logits);
    return { logits, weights };
  }

  /** Makes room for `needed` slots, keeping the first `filled`: each row's and head's slots move up in place. */
  private reserve(filled: number, needed: number): void {
    if (needed <= this.capacity) return;
    const { rows, shape } = this;
    const old = this.capacity;
    const capacity = Math.ceil(needed / SLOT_BLOCK) * SLOT_BLOCK;
    const span = shape.headDim;
    for (const slots of this.slots) {
      for (let rh = rows * shape.kvHeads - 1; rh >= 0; rh--) {
        slots.copyWithin(rh * capacity * span, rh * old * span, (rh * old + filled) * span);
        slots.fill(0, (rh * capacity + filled) * span, (rh + 1) * capacity * span);
      }
    }
    for (let r = rows - 1; r >= 0; r--) {
      this.mask.copyWithin(r * capacity, r * old, r * old + filled);
      this.mask.fill(0, r * capacity + filled, (r + 1) * capacity);
    }
    this.capacity = capacity;
  }
}

/**
 * The coder graph's cache: it never leaves the device. Each step feeds the previous step's cache back (on a
 * GPU, as the device buffers it came out in) with the new tokens and one code per row, and reads back only the
 * coded and decoded intervals; the graph appends the new keys (kept transposed) and values. A restart (start 0)
 * starts from an empty cache.
 */
class DeviceCache implements Cache {
  private cache: ort.Tensor[] = [];

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly rows: number,
    private readonly shape: CacheShape,
    private readonly precision = 0,
  ) {
    if (!precision) throw new Error('the coder graph needs the coder\'s precision');
  }

  async extend(ids: BigInt64Array, length: number, start: number, { codes = new Int32Array(this.rows) } = {}): Promise<Next> {
    const { rows, shape } = this;
    const { kvHeads, headDim } = shape;
    if (start === 0) this.replace(cacheNames(shape, 'cache').map((name) => new ort.Tensor('float32', new Float32Array(0), name.endsWith('key') ? [rows, kvHeads, headDim, 0] : [rows, kvHeads, 0, headDim])));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [rows, length]),
      position_ids: new ort.Tensor('int64', positionIds(rows, length, start), [rows, length]),
      code: new ort.Tensor('int32', codes, [rows]),
      total: new ort.Tensor('float32', Float32Array.of(2 ** this.precision), [1]),
    };
    cacheNames(shape, 'cache').forEach((name, i) => (feeds[name] = this.cache[i]));
    const out = await this.session.run(feeds);
    this.replace(cacheNames(shape, 'updated').map((name) => out[name]));
    return { coded: out.coded.data as Float32Array, decoded: out.decoded.data as Float32Array };
  }

  /** Takes the next cache, releasing the device buffers of the last. */
  private replace(next: ort.Tensor[]): void {
    for (const tensor of this.cache) if (tensor.location === 'gpu-buffer') tensor.dispose();
    this.cache = next;
  }
}

/** The transformers.js graph's cache: past_key_values in, the whole present (past + new) out, each step. */
class PresentCache implements Cache {
  private past: Record<string, Tensor> = {};

  constructor(
    private readonly forward: TransformersForward,
    private readonly Tensor: typeof import('@huggingface/transformers').Tensor,
    private readonly rows: number,
    private readonly vocab: number,
  ) {}

  async extend(ids: BigInt64Array, length: number, start: number): Promise<Next> {
    const { rows, vocab, Tensor } = this;
    const out = await this.forward({
      input_ids: new Tensor('int64', ids, [rows, length]),
      attention_mask: new Tensor('int64', new BigInt64Array(rows * (start + length)).fill(1n), [rows, start + length]),
      position_ids: new Tensor('int64', positionIds(rows, length, start), [rows, length]),
      ...(start > 0 ? { past_key_values: this.past } : {}),
    });
    this.past = {};
    for (const [name, tensor] of Object.entries(out)) {
      if (name.startsWith('present')) this.past[name.replace('present', 'past_key_values')] = tensor;
    }
    const data = out.logits.data as Float32Array;
    const logits = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) logits.set(data.subarray((r * length + length - 1) * vocab, (r * length + length) * vocab), r * vocab);
    return { logits, probs: softmaxRows(logits, vocab) };
  }
}

/**
 * The integer graph's last step (docs/INTEGER.md, "Head"), on the graph's head sums, in place: each column's sum
 * times its multiplier gives the integer logit, shr(sum · mult, shift) (into `logits`), and each token's weight is
 * exp of its logit's distance from the row's largest, looked up in 1/256 nat: exp[min(shr((max - logit) · scale,
 * shift), end)] (over the sums). The sums are below 2^22 and the multipliers below 2^16, the logits below 2^24 and
 * the scale below 2^28: every product is an exact float64 integer, and so is it times a power of two. Adding and
 * taking away 1.5 · 2^52 rounds such a number to an integer, half to even, as every shift of the integer model
 * does, without a branch.
 */
function headWeights(sums: Int32Array, scales: BigInt64Array, head: IntegerHead, logits: Float32Array): void {
  const vocab = head.columnMult.length;
  const { exp, columnMult } = head;
  const last = exp.length - 1;
  const columnUnit = 2 ** -head.columnShift;
  const unit = 2 ** -head.shift;
  const round = 1.5 * 2 ** 52;
  for (let r = 0; r < scales.length; r++) {
    const scale = Number(scales[r]);
    if (scale >= 2 ** 28) throw new Error(`integer graph: head scale ${scale} is out of range`);
    const start = r * vocab;
    const end = start + vocab;
    let max = -Infinity;
    for (let j = start; j < end; j++) {
      const logit = sums[j] * columnMult[j - start] * columnUnit + round - round;
      logits[j] = logit;
      if (logit > max) max = logit;
    }
    const factor = scale * unit;
    for (let j = start; j < end; j++) sums[j] = exp[Math.min((max - logits[j]) * factor, last) + round - round];
  }
}

/** Softmax of each row (float64 inside, float32 out, like the stepper graph's). */
function softmaxRows(logits: Float32Array, vocab: number): Float32Array {
  const probs = new Float32Array(logits.length);
  const exps = new Float64Array(vocab);
  for (let start = 0; start < logits.length; start += vocab) {
    const row = logits.subarray(start, start + vocab);
    const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += exps[j] = Math.exp(row[j] - max);
    for (let j = 0; j < vocab; j++) probs[start + j] = exps[j] / sum;
  }
  return probs;
}

/**
 * Steps `rows` independent token streams together through the model, each starting from BOS.
 *
 * Window rule (the same on both sides, so the decoder repeats the encoder's computation exactly): the
 * cache holds at most `window` positions. When it is full and another token comes, every row restarts from
 * its last floor(window/4) tokens: one forward pass over those tokens plus the new one, at positions
 * 0..floor(window/4), and incremental steps resume from there. (A restart recomputes what it keeps; a
 * quarter rather than a half costs 1/3 of the restarts' time for 0.2% in size: BENCHMARKS.md.)
 */
export class Stepper {
  private readonly history: number[][];
  private readonly severalAtOnce: boolean;
  private filled = 0;

  /** The cache, for the CUDA engine's coder (NativeCache.code). */
  readonly cache: Cache;

  constructor(
    model: LanguageModel,
    readonly rows: number,
    readonly window: number,
    precision?: number,
    feeding = false,
  ) {
    if (window < 2) throw new UserError(`context window must be at least 2, got ${window}`);
    if (model.maxWindow && window > model.maxWindow) throw new UserError(`context window ${window} is more than the ${model.maxWindow} positions ${model.name}'s integer graph covers`);
    this.cache = model.newCache(rows, window, precision, feeding);
    this.history = Array.from({ length: rows }, () => []);
    this.severalAtOnce = model.graphKind === 'integer';
  }

  /** Lets go of the cache (the caller is done with these rows). */
  close(): void {
    this.cache.close?.();
  }

  /** How many tokens a row the next feed may take: as many as fill the window, or, once it is full, a restart's. */
  room(): number {
    return this.filled >= this.window ? this.window - Math.floor(this.window / 4) : this.window - this.filled;
  }

  /** Feeds one token per row (BOS to begin) and returns the prediction of the next (codes, keep: see Cache). */
  step(tokens: ArrayLike<number>, codes?: Int32Array, keep = false): Promise<Next> {
    return this.feed(Array.from({ length: this.rows }, (_, r) => [tokens[r]]), codes, keep);
  }

  /**
   * Feeds n <= room() tokens a row and returns the prediction after each (rows × n, row-major). Only the integer
   * graph predicts after more than one: its integers do not depend on how positions are grouped into calls, so an
   * encoder, which knows the tokens, feeds many at once while its decoder steps one at a time.
   */
  async feed(tokens: number[][], codes?: Int32Array, keep = false): Promise<Next> {
    const n = tokens[0].length;
    if (n > this.room() || (n > 1 && !this.severalAtOnce)) throw new Error(`Stepper.feed: ${n} tokens a row do not fit this graph and window`);
    for (let r = 0; r < this.rows; r++) this.history[r].push(...tokens[r]);
    if (this.filled >= this.window) {
      const keep = Math.floor(this.window / 4);
      for (let r = 0; r < this.rows; r++) this.history[r] = this.history[r].slice(-(keep + n));
      this.filled = 0;
    }
    const fed = this.filled === 0 ? this.history : this.history.map((h) => h.slice(-n));
    const length = fed[0].length;
    const ids = new BigInt64Array(this.rows * length);
    fed.forEach((row, r) => row.forEach((t, i) => (ids[r * length + i] = BigInt(t))));
    const next = await this.cache.extend(ids, length, this.filled, { codes, predict: n, keep });
    this.filled += length;
    if (this.history[0].length > this.window) for (const h of this.history) h.splice(0, h.length - this.window);
    return next;
  }
}
