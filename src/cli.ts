// Shared plumbing for the thin CLIs in scripts/: read input, write output atomically, fail in one line.
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_MODEL } from './model.ts';

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
 * Writes the whole output at once: to stdout, or to a temporary file beside `path` that is renamed over it only
 * when complete, so a failure never leaves a partial file behind. A reader that goes away (`| head`) is no error.
 */
export function writeOutput(path: string | undefined, data: string | Uint8Array, inputPath?: string): void {
  const file = path === '-' ? undefined : path;
  if (file !== undefined && isInput(file, inputPath)) {
    throw new UserError(`refusing to overwrite the input ${inputPath === undefined || inputPath === '-' ? '(standard input)' : inputPath}`);
  }
  const out = new Output(file);
  try {
    out.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } catch (err) {
    out.discard();
    if (err instanceof OutputClosed) return;
    throw err;
  }
  out.commit();
}

/**
 * Whether `path` is the input: the file named `input` (the same path, or the same file by another name), or with none
 * (or -) the regular file standard input reads. False when either does not exist.
 */
export function isInput(path: string, input?: string): boolean {
  const named = input !== undefined && input !== '-';
  if (named && resolve(path) === resolve(input)) return true;
  try {
    const out = statSync(path), source = named ? statSync(input) : fstatSync(0);
    return (named || source.isFile()) && out.ino === source.ino && out.dev === source.dev;
  } catch {
    return false;
  }
}

/** Standard output's reader went away (EPIPE). */
export class OutputClosed extends UserError {
  constructor() {
    super('standard output was closed');
  }
}

/** Unfinished output files, removed however the process ends before they are committed. */
const pendingOutputs = new Set<string>();
let removeOnExit = false;

/**
 * An output written in parts: standard output (no path), or a temporary file beside `path` that `commit` syncs
 * and renames over it, so that a failure or an interruption never leaves a partial file behind.
 */
export class Output {
  private readonly fd: number;
  private readonly temp?: string;

  constructor(private readonly path?: string) {
    if (path === undefined) {
      this.fd = 1;
      return;
    }
    if (!removeOnExit) {
      removeOnExit = true;
      // also on an exit no one planned (a wait the event loop could not finish ends the process with status 13)
      process.on('exit', () => {
        for (const temp of pendingOutputs) rmSync(temp, { force: true });
      });
      for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) process.on(signal, () => process.exit(128 + number));
    }
    this.temp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.tmp`);
    try {
      this.fd = openSync(this.temp, 'wx');
    } catch (err) {
      throw new UserError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    pendingOutputs.add(this.temp);
  }

  write(data: Uint8Array): void {
    for (let off = 0; off < data.length; ) {
      try {
        off += writeSync(this.fd, data, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue; // a non-blocking pipe: retry until the reader drains it
        if (code === 'EPIPE') throw new OutputClosed();
        throw new UserError(`cannot write ${this.path ?? 'standard output'}: ${code ?? (err as Error).message}`);
      }
    }
  }

  /** Makes the output final: synced and renamed into place. */
  commit(): void {
    if (this.temp === undefined) return;
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      renameSync(this.temp, this.path!);
    } catch (err) {
      this.discard();
      throw new UserError(`cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    pendingOutputs.delete(this.temp);
  }

  /** Drops an unfinished file output. */
  discard(): void {
    if (this.temp === undefined || !pendingOutputs.has(this.temp)) return;
    try {
      closeSync(this.fd);
    } catch {} // already closed by a failed commit
    rmSync(this.temp, { force: true });
    pendingOutputs.delete(this.temp);
  }
}

/**
 * The options every stage shares: -i input, -o output. An output file's folder must exist (`outputFolder`: -o names a
 * folder the stage creates, parents too), so that a mistyped path is refused before the stage's work, not after it.
 */
export function stageArgs(usage: string, outputFolder = false): Argv<{ i?: string; o?: string }> {
  return yargs(hideBin(process.argv))
    .usage(usage)
    .option('i', { alias: 'input', type: 'string', describe: 'input file (default: stdin)' })
    .option('o', { alias: 'output', type: 'string', describe: 'output file (default: stdout)' })
    .check(({ o }) => {
      if (outputFolder || typeof o !== 'string' || o === '-') return true;
      const folder = dirname(resolve(o));
      if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`cannot write ${o}: ${dirname(o)} is not a folder`);
      return true;
    })
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .requiresArg(['i', 'o'])
    .fail((msg, err) => fail(new UserError(msg ?? err.message)));
}

/** The running command's name, for its messages. */
const commandName = () => basename(process.argv[1] ?? 'llmc').replace(/\.[cm]?[jt]s$/, '');

/** Prints one line naming the program and the problem, then exits 1. */
export function fail(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  const detail = err instanceof UserError || !(err instanceof Error) ? message : `${err.name}: ${message}`;
  process.stderr.write(`${commandName()}: ${detail.split('\n')[0]}\n`);
  process.exit(1);
}

/**
 * Runs a CLI's main function, turning any error into one line on stderr and exit code 1; so too a process whose event
 * loop empties while main still waits (a wait that nothing can settle, a bug), which would otherwise end with 0.
 */
export function runCli(main: () => Promise<void> | void): void {
  let finished = false;
  process.on('exit', (code) => {
    if (finished || code !== 0 || asksForHelp()) return;
    process.stderr.write(`${commandName()}: stopped with its work unfinished (an internal error)\n`);
    process.exitCode = 1;
  });
  Promise.resolve()
    .then(main)
    .then(() => {
      finished = true;
    }, fail);
}

/** Whether the command line asks for help, which yargs prints and then ends the process with 0 while main still waits. */
function asksForHelp(): boolean {
  const args = process.argv.slice(2);
  const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  return options.includes('--help') || options.includes('-h');
}

/** A name from a file or the command line, safe to print: control characters shown as escapes, at most 80 characters. */
export function printable(name: string): string {
  const shown = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

/** A yargs coerce for an integer option from `min` to `max`, refused in one line otherwise. */
export const count = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => (value: unknown) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new UserError(`${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`);
  return value;
};

/** The most CPU threads a model runs with (native/integer.c refuses more). */
export const MOST_THREADS = 256;

/** Options of the stages that run the model. */
export function withModel<T>(args: Argv<T>) {
  return args
    .option('n', { alias: 'model', type: 'string', describe: `model folder or name under models/ (default: the embedded ${DEFAULT_MODEL}; a decoder takes the shipped model its input was made with, never a folder or host the input names)` })
    .option('dtype', { choices: ['fp32', 'q8'] as const, describe: 'the float graphs\' weights (default: what the folder ships, fp32 first; fp32 also picks a float graph over the integer one)' })
    .option('device', { choices: ['cpu', 'webgpu', 'cuda'] as const, default: 'cpu' as const, describe: 'onnxruntime execution provider' })
    .option('graph', { choices: ['integer', 'stepper', 'coder', 'transformers'] as const, describe: 'which graph of the model (default: integer on the CPU, coder on a GPU; a decoder takes the one its input names)' })
    .option('l', { alias: 'threads', type: 'number', default: 0, coerce: count('-l', 0, MOST_THREADS), describe: 'CPU threads for the model (0: all cores, as memory allows; the integer graph runs one session a thread, ~0.15 GB each once loaded)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' })
    .requiresArg(['n', 'dtype', 'device', 'graph', 'l']);
}

/** One progress bar on stderr, only when it is a terminal: done of total, rate and ETA, counts shown by `show`. */
export interface ProgressBar {
  update(done: number, total: number): void;
  stop(): void;
}

export function progressBar(label: string, quiet: boolean, show: (count: number) => string): ProgressBar {
  if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} {bar} {percentage}% | {done} of {size} | {rate} | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  const t0 = Date.now();
  let started = false, shownTotal = 0;
  const fields = (done: number, total: number) => ({ done: show(done), size: total > 0 ? show(total) : '?', rate: `${show(done / Math.max(1e-3, (Date.now() - t0) / 1000))}/s` });
  return {
    update(done, total) {
      if (!started) bar.start(Math.max(1, total), 0, fields(0, total));
      else if (total !== shownTotal) bar.setTotal(Math.max(1, total));
      started = true;
      shownTotal = total;
      bar.update(Math.min(done, Math.max(1, total)), fields(done, total));
    },
    stop: () => started && bar.stop(),
  };
}

/** A byte count as the bar shows it. */
export const kb = (bytes: number) => (bytes < 10_000 ? `${Math.round(bytes)} B` : bytes < 10_000_000 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`);

/** A model stage's progress in tokens, ending with the last one (undefined when there is no bar to show). */
export function progressReporter(label: string, quiet: boolean): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  const bar = progressBar(label, quiet, (n) => `${Math.round(n)} tok`);
  return (done, total) => {
    bar.update(done, total);
    if (done >= total) bar.stop();
  };
}
