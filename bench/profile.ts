// Where a step's time goes, for one graph of a model: the session's load time and peak memory, the time of one
// cached step over `rows` rows with `slots` filled positions and `tokens` new ones a row (1 for a decoder's step;
// an encoder feeds many, and the integer graph predicts after each), the mean of 20 after 3 warm-ups, and
// onnxruntime's own profile of those steps summed by operator. Synthetic tokens and cache: this measures speed only.
// Run it once per graph, in its own process, so that the peak memory is that graph's:
// usage: node --import tsx bench/profile.ts [--model llmc-base] [--graph integer|stepper] [--rows 33] [--slots 384] [--tokens 1]
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { resolveModel } from '../src/model.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base' })
  .option('graph', { choices: ['integer', 'stepper'] as const, default: 'integer' as const })
  .option('rows', { type: 'number', default: 33 })
  .option('slots', { type: 'number', default: 384 })
  .option('tokens', { type: 'number', default: 1 })
  .option('threads', { type: 'number', default: 2 })
  .parse();
const { dir } = resolveModel(argv.model);
const graph = { integer: 'integer.onnx', stepper: 'stepper_quantized.onnx' }[argv.graph];
const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const [B, S, T, Hk, dh] = [argv.rows, argv.slots, argv.tokens, config.num_key_value_heads, config.head_dim];
const options = { intraOpNumThreads: argv.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, extra: { session: { intra_op: { allow_spinning: '0' } } } };

const t0 = performance.now();
const plain = await ort.InferenceSession.create(join(dir, 'onnx', graph), options);
const loadSeconds = (performance.now() - t0) / 1000;
const loadPeakMB = process.resourceUsage().maxRSS / 1024;

const feeds: Record<string, ort.Tensor> = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: B * T }, (_, i) => BigInt((i * 7919) % config.vocab_size)), [B, T]),
  position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: B * T }, (_, i) => BigInt(Math.min(S + (i % T), config.llmc.window - 1))), [B, T]),
  slot_mask: new ort.Tensor('bool', new Uint8Array(B * S).fill(1), [B, S]),
  ...(argv.graph === 'integer' ? { predict: new ort.Tensor('int64', BigInt64Array.of(BigInt(T)), [1]) } : {}),
};
for (let l = 0; l < config.num_hidden_layers; l++) {
  for (const kv of ['key', 'value']) feeds[`slots.${l}.${kv}`] = new ort.Tensor('float32', Float32Array.from({ length: B * Hk * S * dh }, (_, i) => ((i * 7) % 200) - 100), [B, Hk, S, dh]);
}
const timeSteps = async (session: ort.InferenceSession) => {
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const start = performance.now();
  for (let i = 0; i < 20; i++) await session.run(feeds);
  return (performance.now() - start) / 20;
};
const stepMs = await timeSteps(plain);

const prefix = `llmc-profile-${process.pid}`;
const profiled = await ort.InferenceSession.create(join(dir, 'onnx', graph), { ...options, enableProfiling: true, profileFilePrefix: join(tmpdir(), prefix) });
await timeSteps(profiled);
profiled.endProfiling(); // onnxruntime names the file PREFIX_DATE.json
const file = join(tmpdir(), readdirSync(tmpdir()).find((f) => f.startsWith(prefix))!);
const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args: { op_name: string } }[];
rmSync(file, { force: true });
const byOp = new Map<string, number>();
for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur / 23 / 1000);
const kernelMs = [...byOp.values()].reduce((a, b) => a + b, 0);

console.log(`${argv.model} ${graph}: load ${loadSeconds.toFixed(1)} s, peak ${loadPeakMB.toFixed(0)} MB; ${B} rows of ${T} after ${S} positions: ${stepMs.toFixed(1)} ms a step (unprofiled), kernels ${kernelMs.toFixed(1)} ms (profiled)\n`);
console.log('| operator | ms a step |\n|---|---:|');
for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`| ${op} | ${ms.toFixed(2)} |`);
