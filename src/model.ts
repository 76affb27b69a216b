// Loads a causal language model (a transformers.js / ONNX folder) and steps it token by token with its
// key/value cache, several independent rows at once. Encoder and decoder drive it through the same calls,
// so they run the same computations on tensors of the same shapes, and see bit-identical logits.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoConfig, AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';
import { UserError } from './cli.ts';

export const MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'models');
export const DEFAULT_MODEL = 'llmc-base';

export type Dtype = 'fp32' | 'q8';
export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface ModelOptions {
  dtype?: Dtype;
  device?: Device;
  threads?: number;
}

export interface Tokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  decode(ids: number[], options?: object): string;
}

export interface LanguageModel {
  name: string;
  dir: string;
  vocabSize: number;
  /** The context window the model was trained with. */
  trainedWindow: number;
  /** Token that starts every row (<|endoftext|>). */
  bos: number;
  dtype: Dtype;
  device: Device;
  /** SHA-256 of the files that decide the probabilities: config, tokenizer and the ONNX graph used. */
  fingerprint: Uint8Array;
  tokenizer: Tokenizer;
  forward(inputs: Record<string, Tensor | Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  numLayers: number;
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

/** The dtype a folder ships: int8 when only model_quantized.onnx is there, else fp32. */
function defaultDtype(dir: string): Dtype {
  return existsSync(join(dir, 'onnx', 'model.onnx')) ? 'fp32' : 'q8';
}

const ONNX_FILE: Record<Dtype, string> = { fp32: 'model.onnx', q8: 'model_quantized.onnx' };

/** The tokenizer of a model, with the name and vocabulary size its documents record. */
export async function loadTokenizer(nameOrPath?: string): Promise<{ tokenizer: Tokenizer; dir: string; remote: boolean; name: string; vocabSize: number }> {
  const { dir, remote } = resolveModel(nameOrPath);
  env.allowRemoteModels = remote;
  const tokenizer = (await AutoTokenizer.from_pretrained(dir, { local_files_only: !remote })) as unknown as Tokenizer;
  const config = (await AutoConfig.from_pretrained(dir, { local_files_only: !remote })) as unknown as { vocab_size: number; llmc?: { name?: string } };
  return { tokenizer, dir, remote, name: config.llmc?.name ?? dir, vocabSize: config.vocab_size };
}

/** The model a document was coded with (or the one named), in the graph it was coded with (or the one asked for). */
export async function loadModelFor(doc: { modelName: string; dtype?: string }, name: string | undefined, options: ModelOptions): Promise<LanguageModel> {
  const dtype = options.dtype ?? (doc.dtype as Dtype | undefined);
  const { dir } = resolveModel(name ?? doc.modelName);
  if (dtype && existsSync(dir) && !existsSync(join(dir, 'onnx', ONNX_FILE[dtype]))) {
    throw new UserError(`wrong model: the input was coded with the ${dtype} graph of ${doc.modelName}, and ${dir} has no onnx/${ONNX_FILE[dtype]}`);
  }
  return loadModel(name ?? doc.modelName, { ...options, dtype });
}

export async function loadModel(nameOrPath?: string, options: ModelOptions = {}): Promise<LanguageModel> {
  const { tokenizer, dir, remote, name, vocabSize } = await loadTokenizer(nameOrPath);
  const dtype = options.dtype ?? (remote ? 'fp32' : defaultDtype(dir));
  const device = options.device ?? 'cpu';
  const onnxPath = join(dir, 'onnx', ONNX_FILE[dtype]);
  if (!remote && !existsSync(onnxPath)) throw new UserError(`model ${dir} has no ${dtype} graph (onnx/${ONNX_FILE[dtype]})`);
  const model = await AutoModelForCausalLM.from_pretrained(dir, {
    local_files_only: !remote,
    dtype,
    device,
    session_options: { intraOpNumThreads: options.threads ?? 0, interOpNumThreads: 1 },
  } as Parameters<typeof AutoModelForCausalLM.from_pretrained>[1]);
  const config = model.config as unknown as Record<string, unknown> & { llmc?: { window?: number } };
  const hash = createHash('sha256');
  if (!remote) for (const file of ['config.json', 'tokenizer.json', join('onnx', ONNX_FILE[dtype])]) hash.update(readFileSync(join(dir, file)));
  else hash.update(dir + dtype);
  return {
    name,
    dir,
    vocabSize,
    trainedWindow: config.llmc?.window ?? (config.max_position_embeddings as number) ?? 1024,
    bos: (config.bos_token_id as number) ?? 0,
    dtype,
    device,
    fingerprint: new Uint8Array(hash.digest()),
    tokenizer,
    forward: (inputs) => (model as unknown as (x: object) => Promise<Record<string, Tensor>>)(inputs),
    numLayers: config.num_hidden_layers as number,
  };
}

/**
 * Steps `rows` independent token streams together through the model, each starting from BOS.
 *
 * Window rule (the same on both sides, so the decoder repeats the encoder's computation exactly): the
 * cache holds at most `window` positions. When it is full and another token comes, every row restarts from
 * its last floor(window/2) tokens: one forward pass over those tokens plus the new one, at positions
 * 0..floor(window/2), and incremental steps resume from there.
 */
export class Stepper {
  private past: Record<string, Tensor> | undefined;
  private cached = 0;
  private readonly history: number[][];

  constructor(
    private readonly model: LanguageModel,
    readonly rows: number,
    readonly window: number,
  ) {
    if (window < 2) throw new UserError(`context window must be at least 2, got ${window}`);
    this.history = Array.from({ length: rows }, () => []);
  }

  /** Feeds one token per row (BOS to begin) and returns the logits for the next token: rows × vocab floats. */
  async step(tokens: ArrayLike<number>): Promise<Float32Array> {
    for (let r = 0; r < this.rows; r++) this.history[r].push(tokens[r]);
    if (this.cached >= this.window) {
      const keep = Math.floor(this.window / 2);
      for (let r = 0; r < this.rows; r++) this.history[r] = this.history[r].slice(-(keep + 1));
      this.past = undefined;
      this.cached = 0;
    }
    const fed = this.past === undefined ? this.history : this.history.map((h) => h.slice(-1));
    const length = fed[0].length;
    const ids = new BigInt64Array(this.rows * length);
    fed.forEach((row, r) => row.forEach((t, i) => (ids[r * length + i] = BigInt(t))));
    const total = this.cached + length;
    const positions = new BigInt64Array(this.rows * length);
    for (let r = 0; r < this.rows; r++) for (let i = 0; i < length; i++) positions[r * length + i] = BigInt(this.cached + i);
    const out = await this.model.forward({
      input_ids: new Tensor('int64', ids, [this.rows, length]),
      attention_mask: new Tensor('int64', new BigInt64Array(this.rows * total).fill(1n), [this.rows, total]),
      position_ids: new Tensor('int64', positions, [this.rows, length]),
      ...(this.past ? { past_key_values: this.past } : {}),
    });
    this.past = {};
    for (const [name, tensor] of Object.entries(out)) {
      if (name.startsWith('present')) this.past[name.replace('present', 'past_key_values')] = tensor;
    }
    this.cached = total;
    if (this.history[0].length > this.window) for (const h of this.history) h.splice(0, h.length - this.window);
    const logits = out.logits;
    const vocab = this.model.vocabSize;
    const data = logits.data as Float32Array;
    if (length === 1) return data;
    const last = new Float32Array(this.rows * vocab);
    for (let r = 0; r < this.rows; r++) last.set(data.subarray((r * length + length - 1) * vocab, (r * length + length) * vocab), r * vocab);
    return last;
  }
}
