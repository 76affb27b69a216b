// What adapting the model's distribution to the file as it is coded would give, before building it into the coder:
// a temperature (p ∝ w^(1/τ)), and a per-token bias learned online (bench/onlineBias.ts). w is the integer graph's
// weights, what the exact coder's frequencies come from; bits/byte here is the float cross-entropy of those
// distributions (no coder, no mixer), so only the differences between columns count.
// usage: node --import tsx bench/adapt.ts [--model llmc-base-v3] [--etas 0.03,0.1,0.2] [--taus 0.95,1.05] FILE...
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LAYOUT, walk } from '../src/codec.ts';
import { loadModel } from '../src/model.ts';
import { OnlineBias } from './onlineBias.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base-v3' })
  .option('etas', { type: 'string', default: '0.03,0.1,0.2' })
  .option('taus', { type: 'string', default: '0.95,1.05' })
  .parse();
const numbers = (list: string) => list.split(',').map(Number);
const etas = numbers(argv.etas), taus = numbers(argv.taus);
const model = await loadModel(argv.model, { graph: 'integer' });
const V = model.vocabSize;

/** An online adaptation: its nats so far, and what it learns from each token (w: the row's weights). */
interface Adaptation { name: string; nats: number; see(w: Int32Array, logw: Float64Array, token: number): void }

function biased(eta: number): Adaptation {
  const bias = new OnlineBias(V, eta);
  return {
    name: `bias η ${eta}`,
    nats: 0,
    see(w, _logw, token) {
      this.nats += bias.cost(w, token);
    },
  };
}

function tempered(tau: number): Adaptation {
  return {
    name: tau === 1 ? 'the model' : `τ ${tau}`,
    nats: 0,
    see(_w, logw, token) {
      let top = -Infinity, z = 0;
      for (let v = 0; v < V; v++) top = Math.max(top, logw[v] / tau);
      for (let v = 0; v < V; v++) z += Math.exp(logw[v] / tau - top);
      this.nats += Math.log(z) - (logw[token] / tau - top);
    },
  };
}

const files = argv._.map(String);
const names = [tempered(1), ...taus.map(tempered), ...etas.map(biased)].map((a) => a.name);
console.log(`${argv.model}, integer graph, bits/byte of its weights' distribution\n`);
console.log(`| file | bytes | ${names.join(' | ')} |\n|---|---:|${names.map(() => '---:').join('|')}|`);
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const tokens = model.tokenizer.encode(text, { add_special_tokens: false });
  const adaptations = [tempered(1), ...taus.map(tempered), ...etas.map(biased)];
  const logw = new Float64Array(V);
  await walk(model, tokens.length, { ...DEFAULT_LAYOUT, contextwindow: model.defaultWindow }, ({ weights }, pos) => {
    for (let v = 0; v < V; v++) logw[v] = Math.log(Math.max(weights![v], 1e-30));
    for (const a of adaptations) a.see(weights!, logw, tokens[pos]);
    return tokens[pos];
  });
  const bytes = Buffer.byteLength(text);
  console.log(`| ${file.split('/').pop()} | ${bytes} | ${adaptations.map((a) => (a.nats / Math.LN2 / bytes).toFixed(4)).join(' | ')} |`);
}
