#!/usr/bin/env -S node --import tsx
// toks.json -> tt.json: the model ranks every token (rank mode) or gives it its interval (exact mode).
import { count, parseJson, progressReporter, readInput, runCli, stageArgs, withModel, writeOutput } from '../src/cli.ts';
import { LAYOUT_BOUNDS } from '../src/extra.ts';
import { DEFAULT_LAYOUT, rankTokens } from '../src/codec.ts';
import { asTokensDoc, stringifyDoc } from '../src/ir.ts';
import { MIXERS } from '../src/mixer.ts';
import { loadModel } from '../src/model.ts';
import { bytesOf, sha256Prefix } from '../src/tokenize.ts';

runCli(async () => {
  const argv = await withModel(stageArgs('$0 [-i toks.json] [-o tt.json] [options]\nRuns the model over the tokens.'))
    .option('coder', { choices: ['rank', 'exact'] as const, default: 'rank' as const, describe: 'rank: reference-compatible ranks; exact: the full distribution' })
    .option('w', { alias: 'window', type: 'number', coerce: count('-w', 2, LAYOUT_BOUNDS.contextWindow), describe: 'context window in tokens (default: the window the model was trained with)' })
    .option('t', { alias: 'topN', type: 'number', default: DEFAULT_LAYOUT.topN, coerce: count('-t', 0), describe: 'rank mode: ranks below this are hits, others misses' })
    .option('p', { alias: 'precision', type: 'number', default: DEFAULT_LAYOUT.precision, coerce: count('-p', 1, 31), describe: 'bits of the coder\'s integer frequencies' })
    .option('segment', { type: 'number', default: DEFAULT_LAYOUT.segmentLength, coerce: count('--segment', 0, LAYOUT_BOUNDS.segmentLength), describe: 'tokens per independently coded segment (0: one segment)' })
    .option('batch', { type: 'number', default: DEFAULT_LAYOUT.batch, coerce: count('--batch', 1, LAYOUT_BOUNDS.batch), describe: 'segments stepped together through the model' })
    .option('mixer', { choices: Object.keys(MIXERS) as (keyof typeof MIXERS)[], default: 'pairs' as const, describe: 'exact coder: pairs mixes a match model over the whole input, a bias on every token and one on each token after each token, learned from it, into the model (mixer version 5, docs/MIXER.md); bias: without the pairs (version 4, as before 0.19); match: the match model alone (version 3, as before 0.16); none: the model alone' })
    .option('s', { alias: 'stop', type: 'number', coerce: count('-s', 0), describe: 'only the first N tokens' })
    .requiresArg(['coder', 'w', 't', 'p', 'segment', 'batch', 'mixer', 's'])
    .parse();
  let doc = asTokensDoc(parseJson(readInput(argv.i), argv.i));
  const model = await loadModel(argv.n ?? doc.modelName, { dtype: argv.dtype, device: argv.device, threads: argv.l, graph: argv.graph });
  if (argv.s !== undefined && argv.s < doc.tokenList.length) {
    const tokenList = doc.tokenList.slice(0, argv.s);
    const bytes = bytesOf(tokenList.map((t) => t[0]), model.tokenizer, model.vocabulary);
    // The escaped bytes among the kept ones are not known again from the tokens: at most all of them.
    doc = { ...doc, tokenList, byteLength: bytes.length, sha256: sha256Prefix(bytes), escapedBytes: Math.min(doc.escapedBytes ?? 0, bytes.length) };
  }
  const layout = { mode: argv.coder, contextwindow: argv.w ?? model.defaultWindow, topN: argv.t, precision: argv.p, segmentLength: argv.segment, batch: argv.batch, mixer: MIXERS[argv.mixer] };
  const ranked = await rankTokens(doc, model, layout, progressReporter('modelToInx', argv.quiet));
  writeOutput(argv.o, stringifyDoc(ranked), argv.i);
});
