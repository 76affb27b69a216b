// The host's work for the mixer on the GPU's walk (src/codec.ts, walkOnDevice), a token at a time: each row's plan and
// question, then, with a made-up answer, its losses and learning; the model and the GPU left out. What a version of the
// mixer adds to each step an encoder waits for (BENCHMARKS.md, "The pair bias").
//
// usage: node --import tsx bench/mixerhost.ts FILE [ROUNDS]   (the default model's tokens of FILE, segments of 2,048
// tokens, one step a position of every segment; versions 3, 4 and 5 in turn, ROUNDS times, 2 by default)
import { readFileSync } from 'node:fs';
import { BIAS_MIXER, DEFAULT_MIXER, MATCH_MIXER, Mixer, type MixerSettings, type MixPlan } from '../src/mixer.ts';
import { loadModel } from '../src/model.ts';
import { ANSWER, ASK } from '../src/native.ts';
import { tokensOfStr } from '../src/tokenize.ts';

const [file, roundsArg = '2'] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/mixerhost.ts FILE [ROUNDS]');
const model = await loadModel();
const tokens = tokensOfStr(readFileSync(file), model.tokenizer, model.vocabulary, { modelName: model.name, vocabSize: model.vocabSize }).tokenList.map((t) => t[0]);
const SEGMENT = 2048, rows = Math.ceil(tokens.length / SEGMENT), PRECISION = 24;
// an answer whose every frequency is 2^-14 of the total: what the losses are computed from
const answers = new Int32Array(rows * ANSWER).fill(1 << (PRECISION - 14));

function microsecondsAToken(settings: MixerSettings): number {
  const mixer = new Mixer(tokens.length, SEGMENT, settings, rows);
  mixer.tokenBias(model.vocabSize);
  const asks = new Int32Array(rows * ASK), plans: (MixPlan | undefined)[] = new Array(rows);
  const start = performance.now();
  for (let j = 0; j < SEGMENT; j++) {
    asks.fill(0);
    for (let r = 0; r < rows; r++) {
      const position = r * SEGMENT + j;
      const plan = (plans[r] = position < tokens.length ? mixer.plan(position) : undefined);
      if (!plan) continue;
      if (plan.candidate >= 0) mixer.weightsOf(plan, asks, r * ASK + 4);
      mixer.entriesOf(plan, asks, r * ASK + 13);
    }
    for (let r = 0; r < rows; r++) {
      const plan = plans[r];
      if (!plan) continue;
      if (plan.candidate >= 0) mixer.settle(plan, 0, false);
      mixer.lose(plan, answers, r * ANSWER + 7, PRECISION);
      mixer.learn(r * SEGMENT + j, tokens[r * SEGMENT + j], plan);
    }
  }
  return ((performance.now() - start) * 1000) / tokens.length;
}

console.log(`${file}: ${tokens.length} tokens, ${rows} rows a step`);
console.log('| round | version 3 | version 4 | version 5 |\n|---:|---:|---:|---:|');
for (let round = 1; round <= Number(roundsArg); round++) console.log(`| ${round} | ${[MATCH_MIXER, BIAS_MIXER, DEFAULT_MIXER].map((s) => `${microsecondsAToken(s).toFixed(2)} µs`).join(' | ')} |`);
