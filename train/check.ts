// The export check, in Node through the real inference path: every graph of a model folder (stepper, coder and
// transformers.js, fp32 and int8) stepped token by token with its cache, and the transformers.js graph in one
// full pass, against torch's logits (reference.json from export.py). Prints the max |Δlogit| of each as JSON
// (for the coder graph, which gives no logits, the max |Δp| of the next token).
// Usage: node --import tsx train/check.ts MODEL_DIR REFERENCE_JSON
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '@huggingface/transformers';
import { CODED, type Dtype, type GraphKind, type LanguageModel, loadModel, loadTransformersGraph, Stepper } from '../src/model.ts';

const [dir, referencePath] = process.argv.slice(2);
const reference = JSON.parse(readFileSync(referencePath, 'utf8')) as { ids: number[][]; positions: number[]; logits: string };
const torch = new Float32Array(Uint8Array.from(Buffer.from(reference.logits, 'base64')).buffer);
const { ids, positions } = reference;
const [rows, length] = [ids.length, ids[0].length];

/** max |logits − torch| over the reference positions; `at(r, p)` gives row r's logits after position p. */
function diffToTorch(at: (r: number, p: number) => Float32Array): number {
  let max = 0;
  for (let r = 0; r < rows; r++) {
    positions.forEach((p, i) => {
      const ours = at(r, p);
      const k = r * positions.length + i;
      ours.forEach((x, j) => (max = Math.max(max, Math.abs(x - torch[k * ours.length + j]))));
    });
  }
  return max;
}

/** max |p − torch's p| of the next token at the reference positions, where the coder graph gives p in `coded`. */
async function coderDiffToTorch(model: LanguageModel): Promise<number> {
  const V = model.vocabSize;
  const stepper = new Stepper(model, rows, length, 24);
  let max = 0;
  for (let p = 0; p + 1 < length; p++) {
    const { coded } = await stepper.step(ids.map((row) => row[p]), Int32Array.from(ids, (row) => row[p + 1]));
    const i = positions.indexOf(p);
    if (i < 0) continue;
    for (let r = 0; r < rows; r++) {
      const logits = torch.subarray((r * positions.length + i) * V, (r * positions.length + i + 1) * V);
      const top = logits.reduce((m, x) => Math.max(m, x), -Infinity);
      const sum = logits.reduce((s, x) => s + Math.exp(x - top), 0);
      max = Math.max(max, Math.abs(coded![r * CODED + 3] - Math.exp(logits[ids[r][p + 1]] - top) / sum));
    }
  }
  return max;
}

const report: Record<string, number> = {};
for (const dtype of ['fp32', 'q8'] as Dtype[]) {
  for (const graph of ['stepper', 'transformers', 'coder'] as GraphKind[]) {
    const model = await loadModel(dir, { dtype, threads: 1, graph }).catch(() => undefined);
    if (!model) continue;
    if (graph === 'coder') {
      report[`${model.graph} steps vs torch (probability of the next token)`] = await coderDiffToTorch(model);
      continue;
    }
    const V = model.vocabSize;
    const stepper = new Stepper(model, rows, length);
    const steps: Float32Array[] = [];
    for (let p = 0; p < length; p++) steps.push((await stepper.step(ids.map((row) => row[p]))).logits!);
    report[`${model.graph} steps vs torch`] = diffToTorch((r, p) => steps[p].subarray(r * V, (r + 1) * V));
  }
  // a folder may ship some graphs only (llmc-base-v2: no fp32); transformers.js rejects a missing file out of band
  if (!existsSync(join(dir, 'onnx', dtype === 'fp32' ? 'model.onnx' : 'model_quantized.onnx'))) continue;
  const forward = await loadTransformersGraph(dir, { dtype, threads: 1 });
  const out = await forward({
    input_ids: new Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [rows, length]),
    attention_mask: new Tensor('int64', new BigInt64Array(rows * length).fill(1n), [rows, length]),
    position_ids: new Tensor('int64', BigInt64Array.from(ids.flat().map((_, i) => BigInt(i % length))), [rows, length]),
  });
  const full = out.logits.data as Float32Array;
  const V = full.length / (rows * length);
  report[`${dtype} transformers.js full pass vs torch`] = diffToTorch((r, p) => full.subarray((r * length + p) * V, (r * length + p + 1) * V));
}
console.log(JSON.stringify(report));
