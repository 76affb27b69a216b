// The worst honest-looking file at the default limits: one frame that claims the most a frame may (--memory / 512
// bytes) in as many tokens, with a one-symbol table, so its few words decode into all of them. It passes every
// check that needs no model; `llmc -t` then holds all its tokens and runs the model over them (for days). This
// measures the peak memory that reaches, under /usr/bin/time, stopping llmc after SECONDS.
// usage: node --import tsx bench/bomb.ts [SECONDS=60]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTable, ransEncode } from '../src/ans.ts';
import { DEFAULT_LIMITS, decodeBin, encodeBin, encodeEnd, splitRecords } from '../src/container.ts';
import { ok, ROOT, SCARLET } from '../test/helpers.ts';

const seconds = Number(process.argv[2] ?? 60);
const honest = decodeBin(splitRecords(ok('llmc', ['-q', '--coder', 'rank'], SCARLET.subarray(0, 3000)))[0]).header;
const claimed = DEFAULT_LIMITS.maxOriginal;
const header = { ...honest, tokenCount: claimed, originalLength: claimed };
const dir = mkdtempSync(join(tmpdir(), 'llmc-bomb-'));
const file = join(dir, 'bomb.bin');
writeFileSync(file, Buffer.concat([
  encodeBin(header, encodeTable([-1], [1]), ransEncode([], [], header.scaleBits)),
  encodeEnd({ streamId: header.streamId, frames: 1, length: claimed, sha256Prefix: header.originalSha256Prefix }),
]));
const r = spawnSync('/usr/bin/time', ['-f', '%M', 'timeout', String(seconds), process.execPath, '--import', 'tsx', join(ROOT, 'scripts', 'llmc.ts'), '-t', '-q', file], { encoding: 'utf8' });
const peakKB = Number(r.stderr.trim().split('\n').at(-1));
console.log(`a ${statSync(file).size}-byte file claiming ${claimed} tokens and bytes (the default limit): llmc -t ${r.status === 124 ? `still running after ${seconds} s` : `exit ${r.status}`}, peak RSS ${(peakKB / 1024).toFixed(0)} MB`);
rmSync(dir, { recursive: true, force: true });
