#!/usr/bin/env -S node --import tsx
// toks.json -> bytes: decodes the tokens and checks them against the original's length and hash.
import { parseJson, readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { asTokensDoc } from '../src/ir.ts';
import { DEFAULT_MODEL, loadTokenizer } from '../src/model.ts';
import { tokensToStr } from '../src/tokenize.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i toks.json] [-o text] [-n model]\nWrites the text of the tokens.')
    .option('n', { alias: 'model', type: 'string', describe: `model whose tokenizer to use (default: ${DEFAULT_MODEL})` })
    .requiresArg(['n'])
    .parse();
  const doc = asTokensDoc(parseJson(readInput(argv.i), argv.i));
  const { tokenizer, vocabulary } = await loadTokenizer(argv.n);
  writeOutput(argv.o, tokensToStr(doc, tokenizer, vocabulary), argv.i);
});
