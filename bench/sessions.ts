// A step's time with its rows in one session against rows split over sessions side by side (src/rows.ts, -T):
// the real Stepper and model, synthetic tokens (speed only). Stepping one position a call, as a decoder does, with
// the window filled to `--fill` positions first; and feeding as many positions a call as the encoder does (1,024
// predictions a call in all, at most a window's worth a row).
// usage: node --import tsx bench/sessions.ts [--model llmc-base-v2] [--sessions 2] [--fill 192] [ROWS ...]
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PREDICTIONS_A_CALL } from '../src/codec.ts';
import { loadModel, Stepper, type LanguageModel } from '../src/model.ts';

const argv = await yargs(hideBin(process.argv))
  .option('model', { type: 'string', default: 'llmc-base-v2' })
  .option('sessions', { type: 'number', default: 2 })
  .option('fill', { type: 'number', default: 192 })
  .option('repeat', { type: 'number', default: 30 })
  .parse();
const rowCounts = argv._.length ? argv._.map(Number) : [4, 8, 16, 33];
const models = [await loadModel(argv.model, { threads: 1 }), await loadModel(argv.model, { threads: argv.sessions })];
const token = (i: number, r: number) => (i * 7919 + r * 104729) % models[0].vocabSize;
const window = models[0].defaultWindow;

/** Mean ms of `repeat` steps after the window holds `fill` positions. */
async function stepMs(model: LanguageModel, rows: number): Promise<number> {
  const stepper = new Stepper(model, rows, window);
  await stepper.feed(Array.from({ length: rows }, (_, r) => Array.from({ length: argv.fill }, (_, i) => token(i, r))));
  const start = performance.now();
  for (let i = 0; i < argv.repeat; i++) await stepper.step(Array.from({ length: rows }, (_, r) => token(argv.fill + i, r)));
  stepper.close();
  return (performance.now() - start) / argv.repeat;
}

/** Positions a row that the encoder feeds a call. */
const feedFor = (rows: number) => Math.min(window, Math.floor(PREDICTIONS_A_CALL / rows));

/** ms per 1,000 predictions when feeding two windows' worth of positions a row, as the encoder does. */
async function feedMs(model: LanguageModel, rows: number): Promise<number> {
  const stepper = new Stepper(model, rows, window, undefined, true);
  const start = performance.now();
  for (let done = 0; done < 2 * window; ) {
    const n = Math.min(feedFor(rows), stepper.room());
    await stepper.feed(Array.from({ length: rows }, (_, r) => Array.from({ length: n }, (_, i) => token(done + i, r))));
    done += n;
  }
  stepper.close();
  return ((performance.now() - start) / (2 * window * rows)) * 1000;
}

/** The lesser of two timings, taken in turn with the other model's, so that neither is always first. */
async function best(time: (model: LanguageModel, rows: number) => Promise<number>, rows: number): Promise<[number, number]> {
  const one = [await time(models[0], rows)], split = [await time(models[1], rows)];
  split.push(await time(models[1], rows));
  one.push(await time(models[0], rows));
  return [Math.min(...one), Math.min(...split)];
}

for (const model of models) await stepMs(model, rowCounts.at(-1)!); // warm-up: sessions and workers started
console.log(`${argv.model}: one session against ${argv.sessions} side by side (one onnxruntime thread each)\n`);
console.log('| rows | work | one session, ms | split, ms | speed-up |\n|---:|---|---:|---:|---:|');
for (const rows of rowCounts) {
  for (const [what, time] of [[`a step after ${argv.fill} positions`, stepMs], [`1,000 predictions fed ${feedFor(rows)} a row a call`, feedMs]] as const) {
    const [one, split] = await best(time, rows);
    console.log(`| ${rows} | ${what} | ${one.toFixed(1)} | ${split.toFixed(1)} | ${(one / split).toFixed(2)}× |`);
  }
}
process.exit(0);
