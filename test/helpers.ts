// Shared by the tests: run a stage CLI as a child process, and temporary folders.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const TEXTS = resolve(ROOT, '..', 'shared', 'data', 'texts');
export const SCARLET = readFileSync(join(TEXTS, 'AStudyInScarlet.txt'));

export interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs scripts/NAME.ts with args, feeding `input` on stdin. */
export function stage(name: string, args: string[] = [], input?: Uint8Array | string): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', `${name}.ts`), ...args], {
    input: input ?? '',
    cwd: ROOT,
    maxBuffer: 1 << 30,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Like stage, but throws with the stage's stderr unless it succeeded. */
export function ok(name: string, args: string[] = [], input?: Uint8Array | string): Buffer {
  const r = stage(name, args, input);
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Compresses bytes through the four encoder stages and returns the .bin. */
export function compress(text: Uint8Array, modelArgs: string[], codeArgs: string[] = []): Buffer {
  const toks = ok('tokensOfStr', [...modelArgs], text);
  const tt = ok('modelToInx', ['--quiet', ...modelArgs, ...codeArgs], toks);
  const ranged = ok('rangeEncode', [], tt);
  return ok('binOfRange', [], ranged);
}

/** Decompresses a .bin through the decoder stages with the model of modelArgs, choosing the path by the coder mode. */
export function decompress(bin: Uint8Array, modelArgs: string[], extra: string[] = []): Buffer {
  const ranged = ok('binToRange', [], bin);
  const mode = JSON.parse(ranged.toString()).mode;
  const toks = mode === 'rank'
    ? ok('modelOfInx', ['--quiet', ...modelArgs, ...extra], ok('rangeDecode', [], ranged))
    : ok('tokensOfRange', ['--quiet', ...modelArgs, ...extra], ranged);
  return ok('tokensToStr', modelArgs, toks);
}
