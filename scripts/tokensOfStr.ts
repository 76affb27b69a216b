#!/usr/bin/env -S node --import tsx
// bytes -> toks.json: the tokens of the input, with its length and hash so the far end can check it. Text goes
// through the tokenizer; bytes that are not UTF-8 (or that the tokenizer would not give back) are escaped as
// single-byte tokens, and --verbose says how many.
import { readInput, runCli, stageArgs, UserError, writeOutput } from '../src/cli.ts';
import { LAYOUT_BOUNDS } from '../src/extra.ts';
import { stringifyDoc } from '../src/ir.ts';
import { DEFAULT_MODEL, loadTokenizer } from '../src/model.ts';
import { tokensOfStr } from '../src/tokenize.ts';

runCli(async () => {
  const argv = await stageArgs('$0 [-i file] [-o toks.json] [-n model] [-c comment] [--verbose]\nTokenizes any bytes: UTF-8 text, and the rest escaped byte by byte.')
    .option('n', { alias: 'model', type: 'string', describe: `model whose tokenizer to use (default: ${DEFAULT_MODEL})` })
    .option('c', { alias: 'comment', type: 'string', describe: 'free text stored in the document' })
    .option('verbose', { type: 'boolean', default: false, describe: 'say on stderr which path the bytes took' })
    .requiresArg(['n', 'c'])
    .parse();
  if (argv.c !== undefined && Buffer.byteLength(argv.c) > LAYOUT_BOUNDS.text) throw new UserError(`--comment is ${Buffer.byteLength(argv.c)} bytes of UTF-8, at most ${LAYOUT_BOUNDS.text} fit in a .bin`);
  const bytes = readInput(argv.i);
  const { tokenizer, vocabulary, name, vocabSize } = await loadTokenizer(argv.n);
  const doc = tokensOfStr(bytes, tokenizer, vocabulary, { modelName: name, vocabSize, comment: argv.c });
  if (argv.verbose) process.stderr.write(`tokensOfStr: ${bytes.length} bytes -> ${doc.tokenList.length} tokens; ${doc.escapedBytes} bytes escaped as byte tokens (not UTF-8 text, or not given back by the tokenizer)\n`);
  writeOutput(argv.o, stringifyDoc(doc), argv.i);
});
