// The cm coder alone (src/cm.ts, docs/CM.md) on each file: its stream's size against brotli's (quality 11, as the
// floor runs it) and 7-Zip's PPMd (when 7zz is installed), its speed each way (in C where the addon builds, and the
// TypeScript reference's encoder), and the round trip, with the reference's stream compared.
// usage: node --import tsx bench/cm.ts FILE...
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';
import { cmDecode, cmEncode, cmEncodeReference } from '../src/cm.ts';

/** The size of 7-Zip's PPMd archive of `file` (as bench/compare.sh makes it), or undefined without 7zz. */
function ppmd(file: string): number | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-cm-'));
  try {
    execFileSync('7zz', ['a', '-t7z', '-m0=PPMd', '-mx=9', '-bd', '-bso0', join(dir, 'x.7z'), file]);
    return statSync(join(dir, 'x.7z')).size;
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bpb = (bytes: number, of: number) => ((8 * bytes) / of).toFixed(3);
console.log('| file | bytes | brotli -q 11 | 7z PPMd | cm | cm bits/byte | cm / best other | encode kB/s | decode kB/s | reference encode kB/s | round trip |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const file of process.argv.slice(2)) {
  const bytes = readFileSync(file);
  const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }).length;
  const ppmdBytes = ppmd(file);
  let t = performance.now();
  const stream = cmEncode(bytes);
  const encode = performance.now() - t;
  t = performance.now();
  const back = cmDecode(stream, bytes.length);
  const decode = performance.now() - t;
  t = performance.now();
  const reference = cmEncodeReference(bytes)!;
  const referenceEncode = performance.now() - t;
  const same = Buffer.from(back).equals(bytes) && Buffer.from(reference).equals(Buffer.from(stream));
  const best = Math.min(brotli, ppmdBytes ?? Infinity);
  const rate = (ms: number) => (bytes.length / ms).toFixed(1);
  console.log(`| ${basename(file)} | ${bytes.length} | ${brotli} | ${ppmdBytes ?? '—'} | ${stream.length} | ${bpb(stream.length, bytes.length)} | ${(stream.length / best).toFixed(3)} | ${rate(encode)} | ${rate(decode)} | ${rate(referenceEncode)} | ${same ? 'identical, the reference\'s stream' : 'DIFFERENT'} |`);
}
