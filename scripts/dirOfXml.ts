// Restores a directory tree from the XML that xmlOfDir wrote: dirOfXml [-i FILE] -o DIR [-f]
import { readInput, runCli, stageArgs } from '../src/cli.ts';
import { dirOfXml } from '../src/xmldir.ts';

runCli(() => {
  const argv = stageArgs('Usage: $0 [-i FILE] -o DIR [-f]\n\nRestores the tree in the XML (default: from stdin) into DIR.', true)
    .option('o', { type: 'string', describe: 'directory to restore into (created if missing)' })
    .option('f', { alias: 'force', type: 'boolean', default: false, describe: 'replace the contents of a non-empty DIR' })
    .demandOption('o', 'give the directory to restore into with -o DIR')
    .parseSync();
  dirOfXml(readInput(argv.i), argv.o, { force: argv.f });
});
