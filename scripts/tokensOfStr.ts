#!/usr/bin/env -S node --import tsx
// text -> toks.json: the tokens of the text, with its length and hash so the far end can check it.
import { readInput, runCli, stageArgs, writeOutput } from '../src/cli.ts';
import { stringifyDoc } from '../src/ir.ts';
import { loadTokenizer } from '../src/model.ts';
import { tokensOfStr } from '../src/tokenize.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i text] [-o toks.json] [-n model] [-c comment]\nTokenizes UTF-8 text.')
    .option('n', { alias: 'model', type: 'string', describe: 'model whose tokenizer to use (default: llmc-base)' })
    .option('c', { alias: 'comment', type: 'string', describe: 'free text stored in the document' })
    .parse();
  const bytes = readInput(argv.i);
  const { tokenizer, name, vocabSize } = await loadTokenizer(argv.n);
  const doc = tokensOfStr(bytes, tokenizer, { modelName: name, vocabSize, comment: argv.c });
  writeOutput(argv.o, stringifyDoc(doc), argv.i);
});
