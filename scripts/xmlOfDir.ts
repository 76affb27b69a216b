// Writes a directory tree as one XML document (the llmfuse shape): xmlOfDir [-i] DIR [-o FILE]
import { runCli, stageArgs, UserError, writeOutput } from '../src/cli.ts';
import { xmlOfDir } from '../src/xmldir.ts';

runCli(() => {
  const argv = stageArgs('Usage: $0 [-i] DIR [-o FILE]\n\nWrites the tree under DIR as XML (default: to stdout).')
    .option('i', { type: 'string', describe: 'directory to read' })
    .command('$0 [dir]', false, (y) => y.positional('dir', { type: 'string', describe: 'directory to read' }))
    .parseSync();
  const dir = (argv.i ?? argv.dir) as string | undefined;
  if (dir === undefined) throw new UserError('no directory given (xmlOfDir -i DIR, or xmlOfDir DIR)');
  if (argv.i !== undefined && argv.dir !== undefined) throw new UserError('give the directory once: -i DIR or DIR');
  writeOutput(argv.o, xmlOfDir(dir));
});
