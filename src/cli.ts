// Shared plumbing for the thin CLIs in scripts/: read input, write output atomically, fail in one line.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';

/** An error whose message is meant for the user as is (no stack trace). */
export class UserError extends Error {}

/** Runs `check`, turning what it throws into a UserError with the same message (prefixed by `context`): a refusal of bad input, not a crash. */
export function refusing<T>(check: () => T, context = ''): T {
  try {
    return check();
  } catch (err) {
    throw new UserError(context + (err as Error).message);
  }
}

/** Reads a whole file, or stdin when path is undefined or '-'. */
export function readInput(path?: string): Buffer {
  const source = path === undefined || path === '-' ? 0 : path;
  try {
    return readFileSync(source);
  } catch (err) {
    const what = source === 0 ? 'standard input' : path;
    throw new UserError(`cannot read ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Parses JSON from a stage, naming the input in the error. */
export function parseJson(bytes: Buffer, path?: string): unknown {
  const what = path === undefined || path === '-' ? 'standard input' : path;
  if (bytes.length === 0) throw new UserError(`${what} is empty, expected JSON`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new UserError(`${what} is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Writes the whole output at once: to stdout, or to a temporary file beside `path` that is renamed
 * over it only when complete, so a failure never leaves a partial file behind.
 */
export function writeOutput(path: string | undefined, data: string | Uint8Array, inputPath?: string): void {
  if (path === undefined || path === '-') {
    writeStdout(data);
    return;
  }
  if (inputPath !== undefined && inputPath !== '-' && sameFile(path, inputPath)) {
    throw new UserError(`refusing to overwrite the input ${inputPath}`);
  }
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = statSync(a), sb = statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

function writeStdout(data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // stdout is a non-blocking pipe: retry until the reader drains it
      if (code === 'EPIPE') return; // the reader went away (e.g. `| head`): nothing left to do
      throw err;
    }
  }
}

/** The options every stage shares: -i input, -o output. */
export function stageArgs(usage: string): Argv<{ i?: string; o?: string }> {
  return yargs(hideBin(process.argv))
    .usage(usage)
    .option('i', { alias: 'input', type: 'string', describe: 'input file (default: stdin)' })
    .option('o', { alias: 'output', type: 'string', describe: 'output file (default: stdout)' })
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => fail(err ?? new UserError(msg)));
}

/** Prints one line naming the program and the problem, then exits 1. */
export function fail(err: unknown): never {
  const name = basename(process.argv[1] ?? 'llmc').replace(/\.[cm]?[jt]s$/, '');
  const message = err instanceof Error ? err.message : String(err);
  const detail = err instanceof UserError || !(err instanceof Error) ? message : `${err.name}: ${message}`;
  process.stderr.write(`${name}: ${detail.split('\n')[0]}\n`);
  process.exit(1);
}

/** Runs a CLI's main function, turning any error into one line on stderr and exit code 1. */
export function runCli(main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch(fail);
}

/** A name from a file or the command line, safe to print: control characters shown as escapes, at most 80 characters. */
export function printable(name: string): string {
  const shown = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

/** Options of the stages that run the model. */
export function withModel<T>(args: Argv<T>) {
  return args
    .option('n', { alias: 'model', type: 'string', describe: 'model folder or name under models/ (default: the embedded llmc-base; a decoder never takes the one its input names)' })
    .option('dtype', { choices: ['fp32', 'q8'] as const, describe: 'the float graphs\' weights (default: what the folder ships, fp32 first; fp32 also picks a float graph over the integer one)' })
    .option('device', { choices: ['cpu', 'webgpu', 'cuda'] as const, default: 'cpu' as const, describe: 'onnxruntime execution provider' })
    .option('graph', { choices: ['integer', 'stepper', 'coder', 'transformers'] as const, describe: 'which graph of the model (default: integer on the CPU, coder on a GPU; a decoder takes the one its input names)' })
    .option('l', { alias: 'threads', type: 'number', default: 0, describe: 'CPU threads for the model (0: all cores)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' });
}

/** Progress on stderr (tokens, tokens/s, ETA), only when stderr is a terminal. */
export function progressReporter(label: string, quiet: boolean): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  const t0 = Date.now();
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (now - last < 250 && done < total) return;
    last = now;
    const rate = done / Math.max(1e-3, (now - t0) / 1000);
    const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
    process.stderr.write(`\r${label}: ${done}/${total} tokens, ${rate.toFixed(0)} tok/s, ETA ${eta}s   ${done >= total ? '\n' : ''}`);
  };
}
