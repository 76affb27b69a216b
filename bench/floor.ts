// The floor's classical coders, measured: npm packages for zstd and xz (LZMA), each installed alone into its own
// folder as `npm ci` installs (install scripts off, the npm registry only), then run at its best setting over the
// same files, next to brotli (Node's zlib, as src/stored.ts runs it) and the zstd and xz command-line tools. For
// each package: whether it loads without its install script, its install size, its last publish date, compressed
// bytes per file, compress and decompress time, the round trip, and whether the standard CLI decodes its output.
// usage: node --import tsx bench/floor.ts [--dir DIR] (DIR keeps the installs between runs; default: a temporary folder)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';

const dirArg = process.argv.indexOf('--dir');
const DIR = dirArg > 0 ? process.argv[dirArg + 1] : mkdtempSync(join(tmpdir(), 'llmc-floor-'));
const ROOT = join(import.meta.dirname, '..');

const FILES = [
  'examples/compressor/AStudyInScarlet.txt',
  'node_modules/protobufjs/google/protobuf/descriptor.json',
  'node_modules/yargs/build/lib/command.js',
  'node_modules/yargs/build/lib/yargs-factory.js',
  'node_modules/@huggingface/transformers/README.md',
  'node_modules/chart.js/dist/chart.umd.js',
  'models/llmc-tiny/tokenizer.json',
  'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
].map((f) => join(ROOT, f));

type Bytes = Uint8Array;
interface Codec {
  compress(bytes: Bytes): Bytes | Promise<Bytes>;
  decompress(bytes: Bytes, length: number): Bytes | Promise<Bytes>;
}
interface Candidate {
  name: string;
  /** What npm installs (name@version); none for the baselines. */
  spec?: string;
  format: 'zstd' | 'xz' | 'lzma' | 'brotli';
  setting: string;
  load(mod: (name: string) => Promise<any>): Promise<Codec>;
}

const XZ_9E = 9 | 0x80000000; // LZMA_PRESET_EXTREME
const cli = (command: string, args: string[]) => (bytes: Bytes) => new Uint8Array(execFileSync(command, args, { input: bytes, maxBuffer: 1 << 30 }));
const viaCallback = <T>(fn: (done: (result: T, err?: unknown) => void) => void) => new Promise<T>((resolve, reject) => fn((r, e) => (e ? reject(e) : resolve(r))));

const CANDIDATES: Candidate[] = [
  {
    name: 'brotli (node:zlib)', format: 'brotli', setting: 'q11, window ≥ 2^22',
    load: async () => ({
      compress: (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: Math.min(24, Math.max(22, Math.ceil(Math.log2(b.length + 1)))), [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }),
      decompress: (b) => brotliDecompressSync(b),
    }),
  },
  // --stream-size: the CLI reads stdin, and would otherwise size its tables for an input of unknown length
  { name: 'zstd CLI', format: 'zstd', setting: '-19 --long=27', load: async () => ({ compress: (b) => cli('zstd', ['-q', '-19', '--long=27', '--no-check', `--stream-size=${b.length}`, '-c'])(b), decompress: cli('zstd', ['-q', '-d', '--long=27', '-c']) }) },
  { name: 'zstd CLI', format: 'zstd', setting: '--ultra -22 --long=27', load: async () => ({ compress: (b) => cli('zstd', ['-q', '--ultra', '-22', '--long=27', '--no-check', `--stream-size=${b.length}`, '-c'])(b), decompress: cli('zstd', ['-q', '-d', '--long=27', '-c']) }) },
  { name: 'xz CLI', format: 'xz', setting: '-9e', load: async () => ({ compress: cli('xz', ['-9e', '-c']), decompress: cli('xz', ['-d', '-c']) }) },
  {
    name: '@hpcc-js/wasm-zstd', spec: '@hpcc-js/wasm-zstd@1.12.5', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const zstd = await (await mod('@hpcc-js/wasm-zstd')).Zstd.load();
      return { compress: (b) => zstd.compress(b, 22), decompress: (b) => zstd.decompress(b) };
    },
  },
  {
    name: '@bokuweb/zstd-wasm', spec: '@bokuweb/zstd-wasm@0.0.27', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const z = await mod('@bokuweb/zstd-wasm');
      await z.init();
      return { compress: (b) => z.compress(b, 22), decompress: (b) => z.decompress(b) };
    },
  },
  {
    name: 'zstd-codec', spec: 'zstd-codec@0.1.5', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const { ZstdCodec } = await mod('zstd-codec');
      const simple = await new Promise<any>((resolve) => ZstdCodec.run((z: any) => resolve(new z.Simple())));
      return { compress: (b) => simple.compress(b, 22), decompress: (b) => simple.decompress(b) };
    },
  },
  {
    name: '@toondepauw/node-zstd', spec: '@toondepauw/node-zstd@2.0.0', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const { Encoder, Decoder } = await mod('@toondepauw/node-zstd');
      return { compress: (b) => new Encoder(22).encodeSync(Buffer.from(b)), decompress: (b) => new Decoder().decodeSync(Buffer.from(b)) };
    },
  },
  {
    name: 'zstd-napi', spec: 'zstd-napi@0.0.13', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const z = await mod('zstd-napi');
      return { compress: (b) => z.compress(b, { compressionLevel: 22 }), decompress: (b) => z.decompress(b) };
    },
  },
  {
    name: '@mongodb-js/zstd', spec: '@mongodb-js/zstd@7.0.0', format: 'zstd', setting: 'level 22',
    load: async (mod) => {
      const z = await mod('@mongodb-js/zstd');
      return { compress: (b) => z.compress(Buffer.from(b), 22), decompress: (b) => z.decompress(Buffer.from(b)) };
    },
  },
  {
    name: 'node-liblzma', spec: 'node-liblzma@4.0.2', format: 'xz', setting: 'preset 9e',
    load: async (mod) => {
      const x = await mod('node-liblzma');
      return { compress: (b) => x.xzSync(Buffer.from(b), { preset: XZ_9E }), decompress: (b) => x.unxzSync(Buffer.from(b)) };
    },
  },
  {
    name: 'lzma-native', spec: 'lzma-native@8.0.6', format: 'xz', setting: 'preset 9e',
    load: async (mod) => {
      const x = await mod('lzma-native');
      return { compress: (b) => x.compress(Buffer.from(b), { preset: XZ_9E }), decompress: (b) => x.decompress(Buffer.from(b)) };
    },
  },
  {
    name: '@napi-rs/lzma', spec: '@napi-rs/lzma@1.4.5', format: 'xz', setting: '(no level)',
    load: async (mod) => {
      const { xz } = await mod('@napi-rs/lzma');
      return { compress: (b) => xz.compressSync(b), decompress: (b) => xz.decompressSync(b) };
    },
  },
  {
    name: '@napi-rs/lzma', spec: '@napi-rs/lzma@1.5.3', format: 'xz', setting: '(no level)',
    load: async (mod) => {
      const { xz } = await mod('@napi-rs/lzma');
      return { compress: (b) => xz.compressSync(b), decompress: (b) => xz.decompressSync(b) };
    },
  },
  {
    name: 'lzma (pure JS)', spec: 'lzma@2.3.2', format: 'lzma', setting: 'mode 9',
    load: async (mod) => {
      const l = await mod('lzma');
      return {
        compress: async (b) => Uint8Array.from((await viaCallback<number[]>((done) => l.compress(Buffer.from(b), 9, done))).map((x) => x & 0xff)),
        decompress: async (b) => {
          const r = await viaCallback<number[] | string>((done) => l.decompress(Buffer.from(b), done));
          return typeof r === 'string' ? Buffer.from(r) : Uint8Array.from(r.map((x) => x & 0xff));
        },
      };
    },
  },
];

/** Installs a package alone, as npm ci would here: no install scripts, only the registry. */
function install(spec: string): { folder: string; warnings: string[]; installKB: number } {
  const folder = join(DIR, spec.replace(/[@/]/g, '_'));
  if (!existsSync(join(folder, 'node_modules'))) {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'floor-candidate', version: '1.0.0', private: true }));
    writeFileSync(join(folder, '.npmrc'), 'ignore-scripts=true\n');
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--save-exact', spec], { cwd: folder, encoding: 'utf8' });
    writeFileSync(join(folder, 'install.log'), r.stderr + r.stdout);
    if (r.status !== 0) throw new Error(`npm install ${spec} failed: ${r.stderr.split('\n')[0]}`);
  }
  const warnings = readFileSync(join(folder, 'install.log'), 'utf8').split('\n').filter((l) => /npm warn/i.test(l)).map((l) => l.replace(/^npm warn\s*/i, ''));
  const installKB = Number(execFileSync('du', ['-sk', join(folder, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
  return { folder, warnings, installKB };
}

function published(spec: string): string {
  const at = spec.lastIndexOf('@');
  const r = spawnSync('npm', ['view', spec.slice(0, at), 'time', '--json'], { encoding: 'utf8' });
  return r.status === 0 ? String(JSON.parse(r.stdout)[spec.slice(at + 1)] ?? '?').slice(0, 10) : '?';
}

/** Whether the standard tool decodes `compressed` back to `original`. */
function cliDecodes(format: Candidate['format'], compressed: Bytes, original: Bytes): boolean {
  const [command, args] = { zstd: ['zstd', ['-q', '-d', '--long=31', '-c']], xz: ['xz', ['-d', '-c']], lzma: ['xz', ['--format=lzma', '-d', '-c']], brotli: ['', []] }[format] as [string, string[]];
  if (!command) return true;
  const r = spawnSync(command, args, { input: compressed, maxBuffer: 1 << 30 });
  return r.status === 0 && Buffer.compare(r.stdout, original) === 0;
}

const warned = (warnings: string[]) => (warnings.length ? ` (npm warns: ${[...new Set(warnings.map((w) => w.split(' ')[0]))].join(', ')})` : '');
const ms = (t0: number) => performance.now() - t0;
const inputs = FILES.map((f) => ({ name: basename(f), bytes: new Uint8Array(readFileSync(f)) }));
const rows: string[][] = [];
const sizes: string[][] = [];
console.log(`Node ${process.version}; files: ${inputs.map((i) => `${i.name} (${i.bytes.length})`).join(', ')}; installs in ${DIR}\n`);
for (const c of CANDIDATES) {
  const label = `${c.spec ?? c.name} ${c.setting}`;
  let info = { warnings: [] as string[], installKB: 0 }, date = '-';
  let codec: Codec;
  try {
    let mod: (name: string) => Promise<any> = async () => undefined;
    if (c.spec) {
      const inst = install(c.spec);
      info = inst;
      date = published(c.spec);
      const require = createRequire(join(inst.folder, 'package.json'));
      mod = async (name) => {
        const loaded = await import(pathToFileURL(require.resolve(name)).href);
        return loaded.default && Object.keys(loaded).length <= 2 ? { ...loaded.default, ...loaded } : loaded;
      };
    }
    codec = await c.load(mod);
  } catch (err) {
    rows.push([label, c.format, `no: ${(err as Error).message.split('\n')[0].slice(0, 60)}${warned(info.warnings)}`, `${(info.installKB / 1024).toFixed(1)}`, date, '', '', '', '', '']);
    continue;
  }
  let total = 0, tc = 0, td = 0, ok = true, cliOk = true;
  const perFile: string[] = [];
  try {
    for (const { bytes } of inputs) {
      let t0 = performance.now();
      const packed = await codec.compress(bytes);
      tc += ms(t0);
      t0 = performance.now();
      const back = await codec.decompress(packed, bytes.length);
      td += ms(t0);
      ok &&= Buffer.compare(Buffer.from(back), Buffer.from(bytes)) === 0;
      cliOk &&= cliDecodes(c.format, packed, bytes);
      total += packed.length;
      perFile.push(String(packed.length));
    }
  } catch (err) {
    rows.push([label, c.format, `fails: ${(err as Error).message.split('\n')[0].slice(0, 70)}`, `${(info.installKB / 1024).toFixed(1)}`, date, '', '', '', '', '']);
    continue;
  }
  const warn = `yes${warned(info.warnings)}`;
  rows.push([label, c.format, warn, c.spec ? (info.installKB / 1024).toFixed(1) : '-', date, String(total), (tc / 1000).toFixed(2), (td / 1000).toFixed(3), ok ? 'yes' : 'NO', cliOk ? 'yes' : 'NO']);
  sizes.push([label, ...perFile]);
}

const table = (head: string[], body: string[][]) => [head, head.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
console.log(table(['package / tool, setting', 'format', 'loads with scripts off', 'install MB', 'published', 'bytes (all files)', 'compress s', 'decompress s', 'round trip', 'CLI decodes'], rows));
console.log(`\nbytes per file\n`);
console.log(table(['package / tool, setting', ...inputs.map((i) => `${i.name} (${i.bytes.length})`)], sizes));
if (dirArg < 0) rmSync(DIR, { recursive: true, force: true });
