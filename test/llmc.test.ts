// llmc, the one command: gzip's manners over the library's frames, with the real tiny model, real files.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync } from 'node:zlib';
import { test } from 'node:test';
import { DEFAULT_LIMITS } from '../src/container.ts';
import { DEFAULT_CODING, FrameReader, FramesHere, Models } from '../src/frames.ts';
import { FrameWorkers, GpuFrames } from '../src/frameWorkers.ts';
import { rng } from '../src/fuzz.ts';
import { GPU_WORKER_MEMORY, JOBS_PER_GPU, mostWorkers } from '../src/llmc.ts';
import { ROOT, SCARLET, tempDir } from './helpers.ts';

const TINY = ['-n', 'llmc-tiny'];
const LLMC = join(ROOT, 'scripts', 'llmc.ts');
// tsx from the repository, as run.sh takes it, so that llmc runs from any folder
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** Runs llmc (or run.sh when the first argument is 'run.sh') in `cwd`, with `input` on stdin and `env` added. */
function llmc(cwd: string, args: string[], input: Uint8Array | string = '', env: Record<string, string> = {}) {
  const [command, rest] = args[0] === 'run.sh' ? ['bash', [join(ROOT, 'run.sh'), ...args.slice(1)]] : [process.execPath, ['--import', TSX, LLMC, ...args]];
  const r = spawnSync(command, rest, { cwd, input, maxBuffer: 1 << 28, env: { ...process.env, NODE_OPTIONS: '', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Runs llmc under a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
function llmcAtTerminal(cwd: string, args: string[]) {
  const command = [process.execPath, '--import', TSX, LLMC, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd, encoding: 'latin1' });
  return { status: r.status, output: r.stdout };
}

/** The file URL of a module of src/, for a script written by a test to import. */
const srcUrl = (name: string) => JSON.stringify(pathToFileURL(join(ROOT, 'src', name)).href);

/** Writes `source` as an ES module into `dir` and runs it with `args`, as llmc runs (tsx from the repository). */
function runModule(dir: string, source: string, args: string[] = []) {
  const path = join(dir, `${args[0] ?? 'main'}-script.mts`);
  writeFileSync(path, source);
  return spawnSync(process.execPath, ['--import', TSX, path, ...args], { cwd: dir, encoding: 'utf8' });
}

const oneLine = (stderr: string) => stderr.trim().split('\n').length === 1;

test('llmc FILE keeps FILE and writes FILE.bin; -d gives it back; -t checks; -l lists; --rm removes', (t) => {
  const dir = tempDir(t);
  const text = SCARLET.subarray(10_000, 16_000);
  writeFileSync(join(dir, 'notes.txt'), text);
  const c = llmc(dir, [...TINY, '-q', 'notes.txt']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stderr, '', 'gzip is silent without -v');
  assert.deepEqual(readFileSync(join(dir, 'notes.txt')), text, 'the input is kept');
  const size = statSync(join(dir, 'notes.txt.bin')).size;
  assert.ok(size < text.length / 2, `${size} bytes`);

  const exists = llmc(dir, [...TINY, '-d', 'notes.txt.bin']);
  assert.equal(exists.status, 2, 'an existing output is a warning, as in gzip');
  assert.match(exists.stderr, /^llmc: notes\.txt\.bin: notes\.txt already exists: not overwritten \(use -f\)\n$/);
  const tested = llmc(dir, [...TINY, '-t', '-v', 'notes.txt.bin']);
  assert.equal(tested.status, 0, tested.stderr);
  assert.match(tested.stderr, /^notes\.txt\.bin: OK, \d+ -> 6000 bytes \([\d.]+%, [\d.]+ bits\/byte\), 1 frame \(exact 1\)/);
  const listed = llmc(dir, ['-l', 'notes.txt.bin']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(listed.stdout.toString().split('\n')[1].split('\t'), [String(size), '6000', `${((100 * size) / 6000).toFixed(2)}%`, ((8 * size) / 6000).toFixed(3), '1', 'exact', 'llmc-tiny', 'notes.txt.bin']);

  const back = llmc(dir, [...TINY, '-d', '-f', '--rm', '-v', 'notes.txt.bin']);
  assert.equal(back.status, 0, back.stderr);
  assert.match(back.stderr, /^notes\.txt\.bin: \d+ -> 6000 bytes/);
  assert.deepEqual(readFileSync(join(dir, 'notes.txt')), text);
  assert.ok(!existsSync(join(dir, 'notes.txt.bin')), '--rm removed the input');
});

test('llmc pipes: stdin to stdout both ways, -c, -o, and one model per direction over many frames', (t) => {
  const dir = tempDir(t);
  const text = SCARLET.subarray(50_000, 62_000);
  const packed = llmc(dir, [...TINY, '-q', '-v', '--block', '4000'], text);
  assert.equal(packed.status, 0, packed.stderr);
  assert.match(packed.stderr, /^stdin: 12000 -> \d+ bytes .*, [34] frames \(exact [34](, (brotli|stored) 1)?\)/);
  assert.doesNotMatch(packed.stderr, /b0000/, 'no internal names');
  const unpacked = llmc(dir, [...TINY, '-d', '-q'], packed.stdout);
  assert.equal(unpacked.status, 0, unpacked.stderr);
  assert.deepEqual(unpacked.stdout, text);
  writeFileSync(join(dir, 'in.bin'), packed.stdout);
  const listed = llmc(dir, ['-l', 'in.bin']).stdout.toString().split('\n')[1].split('\t');
  assert.ok(Number(listed[4]) >= 3, `${listed[4]} frames`);
  const toStdout = llmc(dir, [...TINY, '-d', '-c', 'in.bin']);
  assert.deepEqual(toStdout.stdout, text);
  const named = llmc(dir, [...TINY, '-d', '-o', 'out.txt', 'in.bin']);
  assert.equal(named.status, 0, named.stderr);
  assert.deepEqual(readFileSync(join(dir, 'out.txt')), text);
});

test('-j 0 starts a worker a core, or JOBS_PER_GPU a GPU, as host memory and the fullest GPU\'s free memory allow', () => {
  const GiB = 2 ** 30;
  assert.equal(mostWorkers(16, 128 * GiB, []), 16);
  assert.equal(mostWorkers(16, 6 * GiB, []), 4, 'host memory: 1.5 GiB a worker');
  assert.equal(mostWorkers(2, 128 * GiB, [139 * GiB]), 2, 'cores');
  assert.equal(mostWorkers(64, 512 * GiB, [139 * GiB]), JOBS_PER_GPU);
  assert.equal(mostWorkers(64, 512 * GiB, [139 * GiB, 139 * GiB]), 2 * JOBS_PER_GPU);
  const fits = 5;
  assert.equal(mostWorkers(64, 512 * GiB, [139 * GiB, fits * GPU_WORKER_MEMORY + 1]), 2 * fits, 'dealt in turn: the fuller GPU bounds both');
  assert.equal(mostWorkers(64, 512 * GiB, [GPU_WORKER_MEMORY - 1]), 1, 'always one');
  assert.equal(mostWorkers(64, 512 * GiB, [-1]), 1, 'a GPU whose memory could not be read');
});

test('llmc -j codes frames side by side in worker threads: the bytes of one at a time, written in order, and errors in one line', (t) => {
  const dir = tempDir(t);
  const text = Buffer.concat([SCARLET.subarray(80_000, 90_000), readFileSync(join(ROOT, 'src', 'frameWorkers.ts')).subarray(0, 5_000)]);
  writeFileSync(join(dir, 'a.txt'), text);
  const one = llmc(dir, [...TINY, '-q', '-v', '-c', '-j', '1', '--block', '3000', 'a.txt']);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stderr, /, [56] frames \(/);
  const three = llmc(dir, [...TINY, '-q', '-c', '-j', '3', '--block', '3000', 'a.txt']);
  assert.equal(three.status, 0, three.stderr);
  assert.deepEqual(three.stdout, one.stdout, 'the same bytes, frame for frame');
  writeFileSync(join(dir, 'a.bin'), three.stdout);
  const back = llmc(dir, [...TINY, '-q', '-d', '-c', '-j', '2', 'a.bin']);
  assert.equal(back.status, 0, back.stderr);
  assert.deepEqual(back.stdout, text);
  // a worker's error: the first frame's, in one line, and no output
  const wrong = llmc(dir, ['-n', 'llmc-tiny-v2', '-q', '-d', '-j', '3', '-o', 'out.txt', 'a.bin']);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^llmc: a\.bin: frame 1: wrong model: the input was made for llmc-tiny .*\n$/);
  assert.ok(!existsSync(join(dir, 'out.txt')), 'no partial output');
  for (const [args, pattern] of [[['-j', '-1'], /^llmc: -j must be an integer of at least 0/], [['--gpus', '1', '--engine', 'cuda'], /^llmc: --gpus 1: this machine has \d+ GPUs?$|^$/]] as const) {
    const r = llmc(dir, [...TINY, '-q', '-c', ...args, 'a.txt']);
    if (r.status === 0) continue;  // a machine with a GPU takes --gpus 1
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), pattern, args.join(' '));
  }
});

test('llmc codes several files into files of their own: each the bytes it gets alone; an existing output or a damaged file fails alone', (t) => {
  const dir = tempDir(t);
  const texts: Record<string, Buffer> = { 'a.txt': SCARLET.subarray(20_000, 24_000), 'b.txt': readFileSync(join(ROOT, 'src', 'llmc.ts')).subarray(0, 3_000), 'c.txt': Buffer.alloc(0), 'd.txt': SCARLET.subarray(40_000, 47_000) };
  for (const [name, bytes] of Object.entries(texts)) writeFileSync(join(dir, name), bytes);
  writeFileSync(join(dir, 'e.txt'), 'kept');
  writeFileSync(join(dir, 'e.txt.bin'), 'not overwritten');
  const packed = llmc(dir, [...TINY, '-q', '--block', '3000', ...Object.keys(texts), 'e.txt']);
  assert.equal(packed.status, 2, packed.stderr);
  assert.equal(packed.stderr, 'llmc: e.txt: e.txt.bin already exists: not overwritten (use -f)\n');
  for (const name of Object.keys(texts)) {
    const alone = llmc(dir, [...TINY, '-q', '-c', '-j', '1', '--block', '3000', name]);
    assert.deepEqual(readFileSync(join(dir, `${name}.bin`)), alone.stdout, name);
  }
  const bins = Object.keys(texts).map((name) => `${name}.bin`);
  const tested = llmc(dir, [...TINY, '-t', ...bins]);
  assert.equal(tested.status, 0, tested.stderr);
  const d = readFileSync(join(dir, 'd.txt.bin'));
  writeFileSync(join(dir, 'd.txt.bin'), Uint8Array.from(d, (b, i) => (i === d.length >> 1 ? b ^ 1 : b)));
  for (const name of Object.keys(texts)) unlinkSync(join(dir, name));
  const back = llmc(dir, [...TINY, '-d', '-q', ...bins]);
  assert.equal(back.status, 1);
  assert.match(back.stderr, /^llmc: d\.txt\.bin: frame \d: corrupt[^\n]*\n$/);
  for (const name of ['a.txt', 'b.txt', 'c.txt']) assert.deepEqual(readFileSync(join(dir, name)), texts[name], name);
  assert.ok(!existsSync(join(dir, 'd.txt')), 'no partial output');
});

test('frame workers that take frames to decode together give each its own bytes or its own error, in order', async (t) => {
  const dir = tempDir(t);
  const text = Buffer.concat([SCARLET.subarray(60_000, 66_000), readFileSync(join(ROOT, 'src', 'codec.ts')).subarray(0, 6_000)]);
  writeFileSync(join(dir, 'a.txt'), text);
  assert.equal(llmc(dir, [...TINY, '-q', '--block', '2000', 'a.txt']).status, 0);
  const fd = openSync(join(dir, 'a.txt.bin'), 'r');
  const records = [...new FrameReader(fd, DEFAULT_LIMITS)].slice(0, -1);  // the frames, not the end record
  closeSync(fd);
  assert.ok(records.length >= 6, `${records.length} frames`);
  const damaged = records.map((r, i) => (i === 2 ? Uint8Array.from(r, (b, k) => (k === r.length - 9 ? b ^ 1 : b)) : r));
  // a row each, three rows at once: the workers take the frames three by three
  const workers = new FrameWorkers(2, () => ({ model: 'llmc-tiny', modelOptions: { engine: 'native', threads: 1 }, coding: DEFAULT_CODING, limits: DEFAULT_LIMITS }), 3);
  t.after(() => workers.close());
  const decoded = await Promise.allSettled(damaged.map((record) => workers.decode(record, undefined, 1)));
  assert.match(String((decoded[2] as PromiseRejectedResult).reason), /corrupt/);
  // every other frame its own bytes, in its place: with the damaged one given again whole, the text
  const again = await workers.decode(records[2]);
  assert.deepEqual(Buffer.concat(decoded.map((d, i) => (i === 2 ? again : (d as PromiseFulfilledResult<Uint8Array>).value))), text);
});

test('a block\'s steps split between two sets of workers (GpuFrames, as on a GPU) give the frames of one thread, whichever coder wins', async (t) => {
  const random = rng(7);
  const blocks = [
    SCARLET.subarray(0, 3_000),  // prose: the model's
    Uint8Array.from({ length: 3_000 }, () => Math.floor(random() * 256)),  // noise: stored, the model given up
    Buffer.from('0123456789abcdef'.repeat(200)),  // a repeat: cm's, the model given up
    readFileSync(join(ROOT, 'src', 'cm.ts')).subarray(0, 3_000),
  ];
  const setup = () => ({ model: 'llmc-tiny', modelOptions: { engine: 'native' as const, threads: 1 }, coding: DEFAULT_CODING, limits: DEFAULT_LIMITS });
  const split = new GpuFrames(new FrameWorkers(2, setup), new FrameWorkers(2, setup));
  t.after(() => split.close());
  const here = new FramesHere(new Models('llmc-tiny', { engine: 'native', threads: 1 }), DEFAULT_CODING, DEFAULT_LIMITS);
  const places = blocks.map((_, frameIndex) => ({ streamId: new Uint8Array(8).fill(3), frameIndex }));
  const apart = await Promise.all(blocks.map((block, i) => split.encode(block, places[i], i === 0)));
  const coders = new Set<string>();
  for (const [i, block] of blocks.entries()) {
    const alone = await here.encode(block, places[i], i === 0);
    assert.deepEqual(apart[i], alone);
    coders.add(alone.report.coder + (alone.report.modelGivenUp ? ', model given up' : ''));
  }
  assert.ok(coders.size >= 3, [...coders].join('; '));
});

test('frame workers closed while their failures are on the way end with the process: none is kept idle, unref\'d, while close() waits for it', (t) => {
  const dir = tempDir(t);
  // four workers fail while this thread is busy; close() runs on the first failure, before the others' are read.
  // Before the fix, a late failure unref'd its worker and the process left close() unsettled (exit 13) in about
  // half the rounds, so three rounds.
  const script = `import { DEFAULT_LIMITS } from ${srcUrl('container.ts')};
import { DEFAULT_CODING } from ${srcUrl('frames.ts')};
import { FrameWorkers } from ${srcUrl('frameWorkers.ts')};
for (let round = 0; round < 3; round++) {
  const workers = new FrameWorkers(4, () => ({ model: 'no-such-model', modelOptions: { engine: 'native', threads: 1 }, coding: DEFAULT_CODING, limits: DEFAULT_LIMITS }));
  const jobs = [0, 1, 2, 3].map((frameIndex) => workers.encode(new Uint8Array(5), { streamId: new Uint8Array(8), frameIndex }, false));
  jobs.forEach((job) => job.catch(() => {}));
  await new Promise((resolve) => setImmediate(resolve));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
  await Promise.race(jobs).catch(() => {});
  await workers.close();
}
console.log('closed');
`;
  const r = runModule(dir, script);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'closed\n');
});

test('an output not yet committed is removed however a command ends: an exit, a signal, a wait left unsettled (one line, status 1)', (t) => {
  const dir = tempDir(t);
  const script = `import { Output, runCli } from ${srcUrl('cli.ts')};
runCli(async () => {
  const out = new Output(${JSON.stringify(join(dir, 'out', 'x.bin'))});
  out.write(new Uint8Array(1000));
  const how = process.argv[2];
  if (how === 'exit') process.exit(3);
  if (how === 'signal') setInterval(() => process.kill(process.pid, 'SIGTERM'), 100);
  await new Promise(() => {});
});
`;
  mkdirSync(join(dir, 'out'));
  for (const [how, status, stderr] of [['exit', 3, ''], ['signal', 143, ''], ['wait', 1, 'wait-script: stopped with its work unfinished (an internal error)\n']] as const) {
    const r = runModule(dir, script, [how]);
    assert.equal(r.status, status, `${how}: ${r.stderr}`);
    assert.equal(r.stderr, stderr, how);
    assert.deepEqual(readdirSync(join(dir, 'out')), [], `${how}: no partial output`);
  }
});

test('Ctrl-C stops llmc inside a frame it codes in its own thread (-j 1), and no output is left', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'long.txt'), Buffer.concat([SCARLET, SCARLET, SCARLET]));
  const child = spawn(process.execPath, ['--import', TSX, LLMC, ...TINY, '-q', '-j', '1', 'long.txt'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const ended = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // once its output is open (its temporary file is there) llmc is coding: the model's walk over 790 kB takes far
  // longer than a second, so a SIGINT that waited for it would find the .bin written
  const coding = () => readdirSync(dir).some((name) => name.startsWith('.long.txt.bin.'));
  for (let waited = 0; !coding() && waited < 60_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  child.kill('SIGINT');
  assert.equal(await ended, 130, stderr);
  assert.deepEqual(readdirSync(dir), ['long.txt'], 'no output, not even a finished one');
});

test('llmc gives each block the smallest of the model, the classical coders and stored, and codes text and binary in one file', (t) => {
  const dir = tempDir(t);
  const binary = Buffer.from(Array.from({ length: 1800 }, (_, i) => (i * 7919 + (i >> 3) * 31) % 256));
  const original = Buffer.concat([SCARLET.subarray(70_000, 72_000), Buffer.from('\n'), binary]);
  writeFileSync(join(dir, 'mixed.dat'), original);
  const c = llmc(dir, [...TINY, '-q', '-v', '--block', '2100', 'mixed.dat']);
  assert.equal(c.status, 0, c.stderr);
  // the model's frame of the binary block, projected from its first quarter, is given up (src/frames.ts)
  assert.match(c.stderr, /frames \(exact 1, zstd 1; the model given up on 1\)/);
  assert.match(c.stderr, /frame 2: 1800 -> \d+ bytes \(zstd\)/);
  unlinkSync(join(dir, 'mixed.dat'));
  const d = llmc(dir, [...TINY, '-d', '-q', 'mixed.dat.bin']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(readFileSync(join(dir, 'mixed.dat')), original);

  // Random bytes: brotli cannot help either, so the block is stored, at the size of the bytes plus a header.
  const next = rng(7);
  const random = Buffer.from(Array.from({ length: 3000 }, () => Math.floor(next() * 256)));
  const r = llmc(dir, [...TINY, '-q', '-v', '-c'], random);
  assert.match(r.stderr, /1 frame \(stored 1; the model given up on 1\)/);
  assert.equal(r.stdout.length, random.length + 19, 'the bytes in a solo record: magic to mode 7, lengths 2 + 2, hash 4, CRC 4');
  assert.deepEqual(llmc(dir, [...TINY, '-d', '-q'], r.stdout).stdout, random);

  // Text that repeats far beyond the model's window: long matches beat the model, so the frame is one that needs no
  // model (cm's, whose match model and mixing beat brotli's here), and the file is never larger than brotli's stream
  // plus a header. The model's frame is coded to the end, not given up: its mixer learns the repeats, and the rate of
  // the latter half of what it has done keeps its projection within 1.5× of the best classical frame.
  const repeated = Buffer.from(Array.from({ length: 400 }, (_, i) => `{"id": ${i % 7}, "name": "entry", "tags": ["a", "b"]}\n`).join(''));
  const b = llmc(dir, [...TINY, '-q', '-v', '-c'], repeated);
  assert.match(b.stderr, /1 frame \(cm 1\)/);
  assert.ok(b.stdout.length <= brotliCompressSync(repeated).length + 51 + 47, `${b.stdout.length} bytes`);
  assert.deepEqual(llmc(dir, [...TINY, '-d', '-q'], b.stdout).stdout, repeated);
});

test('llmc refuses bad options, bad operands and damaged files in one line, before any work, leaving no output', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.txt'), 'Some text.\n');
  for (const [args, status, pattern] of [
    [['--dtype', 'fp64', 'a.txt'], 1, /^llmc: Invalid values: Argument: dtype, Given: "fp64", Choices: "fp32", "q8" \(see llmc --help\)$/],
    [['a.txt', '-w'], 1, /^llmc: Not enough arguments following: w/],
    [['a.txt', '-T'], 1, /^llmc: Not enough arguments following: T/],
    [['-T', 'x', 'a.txt'], 1, /^llmc: -T must be an integer from 0 to 256/],
    [['-T', '257', 'a.txt'], 1, /^llmc: -T must be an integer from 0 to 256/],
    [['-w', '1e12', 'a.txt'], 1, /^llmc: -w must be an integer from 2 to 65536/],
    [['--segment', '1e12', 'a.txt'], 1, /^llmc: --segment must be an integer from 0 to 16777216/],
    [['--rm', '-c', 'a.txt'], 1, /mutually exclusive/],
    [['--block', '0', 'a.txt'], 1, /^llmc: --block must be an integer of at least 1/],
    [['-d', '-l', 'a.txt'], 1, /mutually exclusive/],
    [['--bogus', 'a.txt'], 1, /^llmc: Unknown argument: bogus/],
    [['--device', 'cuda', 'a.txt'], 1, /^llmc: a\.txt: no CUDA here/],
    [['missing.txt'], 1, /^llmc: missing\.txt: cannot read it \(ENOENT\)$/],
    [['-d', 'a.txt'], 2, /^llmc: a\.txt: unknown suffix, expected \.bin: ignored$/],
    [['-d', '.'], 2, /unknown suffix/],
    [['-o', 'x.bin', 'a.txt', 'a.txt'], 1, /^llmc: -o takes one input file$/],
    // a layout whose cache this --memory could not decode (a row a token, each of 256 positions: over 64 KiB)
    [['--segment', '1', '--batch', '4096', '--memory', '64KiB', '--block', '64', 'a.txt'], 1, /^llmc: a\.txt: --batch 4096 with --segment 1: a frame of this input would need \d+ bytes of model cache to decode, more than --memory allows/],
  ] as const) {
    const r = llmc(dir, [...TINY, '-q', ...args]);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(oneLine(r.stderr), `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), pattern, args.join(' '));
  }
  assert.deepEqual(readdirSync(dir), ['a.txt'], 'no output from a refusal');
  // help is no failure; a FIFO is refused without waiting for a writer; standard input's file is never the output
  const help = llmc(dir, ['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout.toString(), /^llmc \[options\] \[FILE\.\.\.\]/);
  assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
  const fifo = llmc(dir, [...TINY, '-q', 'fifo']);
  assert.deepEqual([fifo.status, fifo.stderr], [2, 'llmc: fifo: not a regular file: ignored\n']);
  unlinkSync(join(dir, 'fifo'));
  const stdin = openSync(join(dir, 'a.txt'), 'r');
  const same = spawnSync(process.execPath, ['--import', TSX, LLMC, ...TINY, '-q', '-f', '-o', 'a.txt'], { cwd: dir, stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8' });
  closeSync(stdin);
  assert.deepEqual([same.status, same.stderr], [1, 'llmc: stdin: refusing to overwrite the input\n']);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'Some text.\n');
  // run.sh's example writes NAME.bin beside its input: an input so named is refused, not replaced
  writeFileSync(join(dir, 'notes.bin'), 'Plain text.\n');
  const example = llmc(dir, ['run.sh', ...TINY, 'notes.bin']);
  assert.deepEqual([example.status, example.stderr], [1, 'run.sh: refusing to overwrite the input: notes.bin is where the example writes ./notes.bin\n']);
  assert.equal(readFileSync(join(dir, 'notes.bin'), 'utf8'), 'Plain text.\n');
  unlinkSync(join(dir, 'notes.bin'));

  assert.equal(llmc(dir, [...TINY, '-q', '--block', '6', 'a.txt']).status, 0);
  truncateSync(join(dir, 'a.txt.bin'), statSync(join(dir, 'a.txt.bin')).size - 3);
  unlinkSync(join(dir, 'a.txt'));
  const cut = llmc(dir, [...TINY, '-d', '-q', 'a.txt.bin']);
  assert.equal(cut.status, 1);
  assert.ok(oneLine(cut.stderr), cut.stderr);
  assert.match(cut.stderr, /^llmc: a\.txt\.bin: truncated \.bin file: it ends inside the end record/);
  assert.deepEqual(readdirSync(dir), ['a.txt.bin'], 'no partial output from a damaged file');
});

test('the native engine and onnxruntime write the same .bin and read each other\'s; without a C compiler llmc uses onnxruntime', (t) => {
  const dir = tempDir(t);
  const text = SCARLET.subarray(20_000, 24_000);
  writeFileSync(join(dir, 'a.txt'), text);
  const native = llmc(dir, [...TINY, '-q', '-c', 'a.txt'], '', { LLMC_ENGINE: 'native' });
  const onnx = llmc(dir, [...TINY, '-q', '-c', 'a.txt'], '', { LLMC_ENGINE: 'onnx' });
  assert.equal(native.status, 0, native.stderr);
  assert.equal(onnx.status, 0, onnx.stderr);
  assert.deepEqual(native.stdout, onnx.stdout, 'the same bytes from both engines');
  const byOnnx = llmc(dir, [...TINY, '-d', '-c'], native.stdout, { LLMC_ENGINE: 'onnx' });
  assert.deepEqual(byOnnx.stdout, text, byOnnx.stderr);
  // CC that fails: the engine cannot be built, so onnxruntime decodes (and LLMC_ENGINE=native says why not)
  const fallback = llmc(dir, [...TINY, '-d', '-c'], onnx.stdout, { CC: 'false' });
  assert.deepEqual(fallback.stdout, text, fallback.stderr);
  const insisted = llmc(dir, [...TINY, '-d', '-c'], onnx.stdout, { CC: 'false', LLMC_ENGINE: 'native' });
  assert.equal(insisted.status, 1);
  assert.match(insisted.stderr, /^llmc: the native engine did not build: .+\n$/);
  const bad = llmc(dir, [...TINY, '-d', '-c'], onnx.stdout, { LLMC_ENGINE: 'gpu' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^llmc: LLMC_ENGINE must be native, cuda or onnx, got 'gpu'\n$/);
  assert.equal(bad.stdout.length, 0);
});

test('the CUDA engine writes the native engine\'s .bin and reads it, frames decoded together; where it cannot run, llmc says why in one line and writes nothing', (t) => {
  const dir = tempDir(t);
  // frames of about 150 segments of 32 tokens, so each has a lane a row and the GPU decodes all three in one walk
  const text = SCARLET.subarray(30_000, 70_000);
  const layout = ['--block', '16384', '--segment', '32'];
  writeFileSync(join(dir, 'a.txt'), text);
  const cuda = llmc(dir, [...TINY, '-q', '-v', '--engine', 'cuda', ...layout, 'a.txt']);
  if (cuda.status !== 0) {
    assert.equal(cuda.status, 1, cuda.stderr);
    assert.match(cuda.stderr, /^llmc: a\.txt: the CUDA engine cannot run: [^\n]+\n$/);
    assert.deepEqual(readdirSync(dir), ['a.txt'], 'no output where the engine cannot run');
    return t.diagnostic(cuda.stderr.trim());
  }
  assert.match(cuda.stderr, /, 3 frames \(exact 3\)/);
  const native = llmc(dir, [...TINY, '-q', '-c', ...layout, 'a.txt'], '', { LLMC_ENGINE: 'native' });
  assert.deepEqual(readFileSync(join(dir, 'a.txt.bin')), native.stdout, 'the same bytes from both engines');
  assert.deepEqual(llmc(dir, [...TINY, '-d', '-c', '--engine', 'cuda'], native.stdout).stdout, text);
  // mixer version 3 (--mixer match, without the token bias) as well: the native engine's bytes again, both ways
  const matched = llmc(dir, [...TINY, '-q', '-c', '--engine', 'cuda', '--mixer', 'match', ...layout, 'a.txt']);
  assert.deepEqual(matched.stdout, llmc(dir, [...TINY, '-q', '-c', '--mixer', 'match', ...layout, 'a.txt'], '', { LLMC_ENGINE: 'native' }).stdout, 'mixer version 3: the same bytes from both engines');
  assert.deepEqual(llmc(dir, [...TINY, '-d', '-c', '--engine', 'cuda'], matched.stdout).stdout, text);
  // several files at once through the same workers (decoding: their frames in the same steps); a damaged one fails alone
  const texts = { 'b.txt': SCARLET.subarray(80_000, 100_000), 'c.txt': readFileSync(join(ROOT, 'src', 'codec.ts')).subarray(0, 20_000), 'd.txt': SCARLET.subarray(110_000, 126_000) };
  for (const [name, bytes] of Object.entries(texts)) writeFileSync(join(dir, name), bytes);
  assert.equal(llmc(dir, [...TINY, '-q', '--engine', 'cuda', ...layout, ...Object.keys(texts)]).status, 0);
  for (const name of Object.keys(texts)) assert.deepEqual(readFileSync(join(dir, `${name}.bin`)), llmc(dir, [...TINY, '-q', '-c', ...layout, name], '', { LLMC_ENGINE: 'native' }).stdout, name);
  const d = readFileSync(join(dir, 'd.txt.bin'));
  writeFileSync(join(dir, 'd.txt.bin'), Uint8Array.from(d, (b, i) => (i === d.length >> 1 ? b ^ 1 : b)));
  for (const name of Object.keys(texts)) unlinkSync(join(dir, name));
  const many = llmc(dir, [...TINY, '-d', '-f', '--engine', 'cuda', 'a.txt.bin', 'b.txt.bin', 'c.txt.bin', 'd.txt.bin']);
  assert.equal(many.status, 1);
  assert.match(many.stderr, /^llmc: d\.txt\.bin: frame \d: corrupt[^\n]*\n$/);
  assert.deepEqual(readFileSync(join(dir, 'a.txt')), text);
  for (const name of ['b.txt', 'c.txt']) assert.deepEqual(readFileSync(join(dir, name)), texts[name as keyof typeof texts]);
  assert.ok(!existsSync(join(dir, 'd.txt')), 'no partial output');
});

test('llmc decodes with the model the user names, else the shipped model the file was made with', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.txt'), SCARLET.subarray(0, 3000));
  assert.equal(llmc(dir, [...TINY, '-q', 'a.txt']).status, 0);
  // a solo record names no model: the shipped one whose fingerprint it begins with decodes it
  assert.equal(llmc(dir, ['-t', '-q', 'a.txt.bin']).status, 0);
  const r = llmc(dir, ['-n', 'llmc-tiny-v2', '-t', '-q', 'a.txt.bin']);
  assert.equal(r.status, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /^llmc: a\.txt\.bin: frame 1: wrong model: .*this is llmc-tiny-v2 .*; decode it with -n llmc-tiny\n$/);
});

test('a file never points the decoder at a folder: one made with a model outside models/ needs it named', (t) => {
  const dir = tempDir(t);
  const own = join(dir, 'own');
  cpSync(join(ROOT, 'models', 'llmc-tiny'), own, { recursive: true });
  const config = JSON.parse(readFileSync(join(own, 'config.json'), 'utf8'));
  writeFileSync(join(own, 'config.json'), JSON.stringify({ ...config, llmc: { ...config.llmc, name: 'llmc-tiny-v2' } }));
  writeFileSync(join(dir, 'a.txt'), SCARLET.subarray(0, 3000));
  // two frames, each naming the model: a shipped model's name, with another model's fingerprint
  assert.equal(llmc(dir, ['-n', own, '-q', '--block', '2000', 'a.txt']).status, 0);
  assert.match(llmc(dir, ['-l', 'a.txt.bin']).stdout.toString(), /\t2\t[^\t]+\tllmc-tiny-v2\ta\.txt\.bin\n$/);
  const r = llmc(dir, ['-t', '-q', 'a.txt.bin']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^llmc: a\.txt\.bin: frame 1: wrong model: the input was made for llmc-tiny-v2 \(vocabulary 2048\), this is llmc-tiny-v2 \(vocabulary 16384\); another model of that name made it: name its folder with -n, [^\n]*\n$/);
  assert.equal(llmc(dir, ['-n', own, '-t', '-q', 'a.txt.bin']).status, 0, 'the folder named decodes it');
});

for (const [name, what] of [['llmc-base-v2', 'the default of 0.5–0.14'], ['llmc-base-v3', 'the default of 0.15–0.20'], ['llmc-base-v4', 'never the default']]) {
  test(`files of ${name} (${what}) decode without -n, and a wrong -n says which to name`, (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), SCARLET.subarray(0, 400));
    assert.equal(llmc(dir, ['-n', name, '-q', 'a.txt']).status, 0);
    assert.equal(llmc(dir, ['-t', '-q', 'a.txt.bin']).status, 0);
    const r = llmc(dir, [...TINY, '-t', '-q', 'a.txt.bin']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^llmc: a\\.txt\\.bin: frame 1: wrong model: .*this is llmc-tiny .*; decode it with -n ${name}\n$`));
  });
}

test('llmc at a terminal: never writes compressed data to it, and shows one progress bar', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.txt'), SCARLET.subarray(0, 3000));
  const refused = llmcAtTerminal(dir, [...TINY, '-c', 'a.txt']);
  assert.equal(refused.status, 1);
  assert.match(refused.output, /^llmc: a\.txt: compressed data not written to a terminal \(use -f to force, or -o FILE\)\r?\n$/);
  const bar = llmcAtTerminal(dir, [...TINY, 'a.txt']);
  assert.equal(bar.status, 0, bar.output);
  assert.match(bar.output, /a\.txt .*\d+% \| [\d.]+ (B|kB) of 3000 B \| .*\/s \| ETA/);
  assert.ok(existsSync(join(dir, 'a.txt.bin')));
});

test('run.sh compress|decompress is llmc, and keeps its options (-l THREADS)', (t) => {
  const dir = tempDir(t);
  const text = SCARLET.subarray(20_000, 23_000);
  writeFileSync(join(dir, 'b.txt'), text);
  const c = llmc(dir, ['run.sh', 'compress', '-q', '-l', '1', ...TINY, '--coder', 'rank', 'b.txt']);
  assert.equal(c.status, 0, c.stderr);
  unlinkSync(join(dir, 'b.txt'));
  const d = llmc(dir, ['run.sh', 'decompress', '-q', '-l', '1', ...TINY, 'b.txt.bin']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(readFileSync(join(dir, 'b.txt')), text);
  const missing = llmc(dir, ['run.sh', 'compress', '-l']);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, 'run.sh: -l needs a number of threads\n');
});

test('llmc installs as a command (npm install -g) and runs from any folder', (t) => {
  const prefix = tempDir(t);
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ROOT], { encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr);
  assert.doesNotMatch(install.stderr, /npm warn/i, install.stderr);
  const dir = tempDir(t);
  const r = spawnSync(join(prefix, 'bin', 'llmc'), [...TINY, '-q'], { cwd: dir, input: 'Hello from anywhere.\n' });
  assert.equal(r.status, 0, r.stderr.toString());
  const back = spawnSync(join(prefix, 'bin', 'llmc'), [...TINY, '-d'], { cwd: dir, input: r.stdout });
  assert.equal(back.stdout.toString(), 'Hello from anywhere.\n');
});

test('npm runs this project without warnings: no unknown config keys, every install script reviewed', () => {
  for (const args of [['pkg', 'get', 'name'], ['install-scripts', 'ls']]) {
    const r = spawnSync('npm', args, { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /npm warn/i, `npm ${args.join(' ')}: ${r.stderr}`);
    if (args[0] === 'install-scripts') assert.doesNotMatch(r.stdout, /postinstall|install:/, r.stdout);
  }
});
