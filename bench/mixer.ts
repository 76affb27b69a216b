// Tunes and measures the match model and mixer (docs/MIXER.md) without running the model again for every setting:
// the first run over a file keeps, per position, the model's 128 largest frequencies and the true token's (in
// bench/results/mixer-cache/, ignored); each setting then replays the coder's visit order over those rows, the
// rest of each row spread evenly. Bits are Σ −log2(frequency / 2^24) of the true tokens, the exact coder's cost
// without its header: an estimate of the real mix (the rows are approximate), good for comparing settings.
//
// usage: node --import tsx bench/mixer.ts BYTES FILE... [model=NAME] [minMatch=3,learningShift=13,matchRate=4 ...]
// (the first BYTES bytes of each FILE, the rows of model NAME, the default if none; each name=value list is one
// setting, over the defaults). bias=η in a setting
// adds, after the mixer, a per-token bias learned online in float64 (bench/onlineBias.ts), and context=η with it a
// bias for each previous token (bias=0 leaves the unigram one out; contextClamp=C bounds each to ±C, 30 by default,
// contextSize=K keeps K tokens a previous token, all by default); version=4,biasRate=R is the coder's own token
// bias, in integers (src/bias.ts).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DEFAULT_LAYOUT, visitOrder, walk } from '../src/codec.ts';
import { DEFAULT_MIXER, Mixer, type MixerSettings } from '../src/mixer.ts';
import { type LanguageModel, loadModel } from '../src/model.ts';
import { Frequencies } from '../src/ranks.ts';
import { tokensOfStr } from '../src/tokenize.ts';
import { OnlineBias } from './onlineBias.ts';

const KEPT = 128;
const PRECISION = DEFAULT_LAYOUT.precision;
const TOTAL = 2 ** PRECISION;
/** Per position: the true token, its frequency, the model's top token, then KEPT tokens and KEPT frequencies. */
const STRIDE = 3 + 2 * KEPT;
const CACHE = 'bench/results/mixer-cache';

const [bytesArg, ...rest] = process.argv.slice(2);
const files = rest.filter((a) => !a.includes('='));
const modelName = rest.find((a) => a.startsWith('model='))?.slice('model='.length);
type Setting = MixerSettings & { bias?: number; context?: number; contextClamp?: number; contextSize?: number };
const settings = rest.filter((a) => a.includes('=') && !a.startsWith('model=')).map((a): Setting => {
  const setting: Setting = { ...DEFAULT_MIXER, ...Object.fromEntries(a.split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])])) };
  if (setting.version < 4) delete setting.biasRate;
  if (setting.version < 5) delete setting.pairRate;
  return setting;
});
if (!Number(bytesArg) || files.length === 0) throw new Error('usage: bench/mixer.ts BYTES FILE... [name=value,... ...]');

/** The model's rows over the file, made once (the default layout), as an Int32Array of STRIDE a position. */
async function rowsOf(file: string, bytes: Uint8Array, model: () => Promise<LanguageModel>): Promise<Int32Array> {
  const m = await model();
  const path = `${CACHE}/${m.name}/${basename(file)}.${bytes.length}.bin`;
  if (existsSync(path)) return new Int32Array(new Uint8Array(readFileSync(path)).buffer);
  const tokens = tokensOfStr(bytes, m.tokenizer, m.vocabulary, { modelName: m.name, vocabSize: m.vocabSize }).tokenList.map((t) => t[0]);
  const rows = new Int32Array(tokens.length * STRIDE);
  const freqs = new Frequencies(m.vocabSize, PRECISION);
  const layout = { contextwindow: m.defaultWindow, precision: PRECISION, segmentLength: DEFAULT_LAYOUT.segmentLength, batch: DEFAULT_LAYOUT.batch };
  await walk(m, tokens.length, layout, ({ weights }, pos) => {
    const f = freqs.load(weights!).freqs;
    const top = Array.from(f.keys()).sort((a, b) => f[b] - f[a] || a - b).slice(0, KEPT);
    const o = pos * STRIDE;
    rows.set([tokens[pos], f[tokens[pos]], freqs.top, ...top, ...top.map((t) => f[t])], o);
    return tokens[pos];
  });
  mkdirSync(`${CACHE}/${m.name}`, { recursive: true });
  writeFileSync(path, rows);
  return rows;
}

/** Bits of the true tokens over the rows, with the mixer of `setting` (and its bias) or the model alone. */
function bitsOf(rows: Int32Array, vocab: number, setting?: Setting): number {
  const count = rows.length / STRIDE;
  const { bias: eta, context: contextEta, contextClamp, contextSize, ...mixerSettings } = setting ?? {};
  const mixer = setting && new Mixer(count, DEFAULT_LAYOUT.segmentLength, mixerSettings as MixerSettings, DEFAULT_LAYOUT.batch);
  const row = new Frequencies(vocab, PRECISION);
  const bias = eta || contextEta ? new OnlineBias(vocab, eta ?? 0, { eta: contextEta ?? 0, clamp: contextClamp ?? 30, size: contextSize ?? Infinity }) : undefined;
  let bits = 0;
  for (const pos of visitOrder(count, DEFAULT_LAYOUT.segmentLength, DEFAULT_LAYOUT.batch)) {
    const o = pos * STRIDE;
    const [token, tokenFreq, top] = rows.subarray(o, o + 3);
    const ids = rows.subarray(o + 3, o + 3 + KEPT);
    const kept = rows.subarray(o + 3 + KEPT, o + STRIDE);
    const f = row.freqs;
    const inKept = ids.includes(token);
    const rest = TOTAL - kept.reduce((a, b) => a + b, 0) - (inKept ? 0 : tokenFreq);
    f.fill(Math.max(1, Math.floor(rest / (vocab - KEPT - (inKept ? 0 : 1)))));
    ids.forEach((t, i) => (f[t] = kept[i]));
    f[token] = tokenFreq;
    f[top] += TOTAL - f.reduce((a, b) => a + b, 0);
    row.top = top;
    // version 4 biases the row as weights, and the frequencies are made from them as the coder makes them
    if (mixer && setting.version >= 4) row.load(mixer.weigh(f, pos));
    mixer?.mix(row, pos);
    bits += bias ? bias.cost(f, token, pos % DEFAULT_LAYOUT.segmentLength > 0 ? rows[o - STRIDE] : -1) / Math.LN2 : -Math.log2(f[token] / TOTAL);
    mixer?.learn(pos, token);
  }
  return bits;
}

let loaded: Promise<LanguageModel> | undefined;
const model = () => (loaded ??= loadModel(modelName));
console.log(`| file | bytes | tokens | model alone, bits/byte | ${[DEFAULT_MIXER, ...settings].map((s: Setting) => `v${s.version}, minMatch ${s.minMatch}, shift ${s.learningShift}, rate ${s.matchRate}${s.biasRate ? `, biasRate ${s.biasRate}` : ''}${s.pairRate ? `, pairRate ${s.pairRate}` : ''}${s.bias ? `, bias η ${s.bias}` : ''}${s.context ? `, context η ${s.context}` : ''}${s.contextClamp ? ` ±${s.contextClamp}` : ''}${s.contextSize ? ` ${s.contextSize} a context` : ''}`).join(' | ')} |`);
console.log(`|---|---:|---:|---:|${[DEFAULT_MIXER, ...settings].map(() => '---:').join('|')}|`);
for (const file of files) {
  const bytes = readFileSync(file).subarray(0, Number(bytesArg));
  const rows = await rowsOf(file, bytes, model);
  const vocab = (await model()).vocabSize;
  const alone = bitsOf(rows, vocab);
  const mixed = [DEFAULT_MIXER, ...settings].map((s) => bitsOf(rows, vocab, s));
  const cell = (b: number) => `${(b / bytes.length).toFixed(4)} (${((b / alone - 1) * 100).toFixed(1)}%)`;
  console.log(`| ${basename(file)} | ${bytes.length} | ${rows.length / STRIDE} | ${(alone / bytes.length).toFixed(4)} | ${mixed.map(cell).join(' | ')} |`);
}
