// Figures, heatmap and stats, drawn from a small real run of the pipeline CLIs with llmc-tiny.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { plotBench } from '../src/figures.ts';
import { findChromium, runChromium, tokenPieces } from '../src/heatmap.ts';
import { loadTokenizer } from '../src/model.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'figures-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const at = (name: string) => join(scratch, name);

// Multi-byte characters that byte-level BPE splits across tokens, markup to escape, tabs and blank lines.
const TEXT = `\uFEFFThe Project Gutenberg eBook of A Study in Scarlet

CHAPTER I.
MR. SHERLOCK HOLMES.

In the year 1878 I took my degree of Doctor of Medicine of the University
of London, and proceeded to Netley to go through the course prescribed for
surgeons in the army. Having completed my studies there, I was duly
attached to the Fifth Northumberland Fusiliers as Assistant Surgeon.
\tCafé — naïve — 日本語 — 🙂 — <script>alert("&amp;")</script> & done.

"You have been in Afghanistan, I perceive."
`;

function cli(script: string, args: string[], { ok = true } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', `${script}.ts`), ...args], { cwd: root, encoding: 'utf8' });
  if (ok) assert.equal(r.status, 0, `${script} ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

const BENCH = [
  { name: 'gzip -9', file: 'a.txt', bytes: 101780, bitsPerByte: 3.088 },
  { name: 'xz -9e', file: 'a.txt', bytes: 88944, bitsPerByte: 2.698 },
  { name: 'llmc exact', file: 'a.txt', bytes: 60000, bitsPerByte: 1.82 },
  { name: 'gzip -9', file: 'b.txt', bytes: 12, bitsPerByte: 4.5 },
];

before(() => {
  writeFileSync(at('text.txt'), TEXT);
  writeFileSync(at('bench.json'), JSON.stringify(BENCH));
  cli('tokensOfStr', ['-n', 'llmc-tiny', '-i', at('text.txt'), '-o', at('toks.json')]);
  for (const coder of ['exact', 'rank']) {
    cli('modelToInx', ['-n', 'llmc-tiny', '--quiet', '--coder', coder, '-i', at('toks.json'), '-o', at(`${coder}.tt.json`)]);
    cli('rangeEncode', ['-i', at(`${coder}.tt.json`), '-o', at(`${coder}.ranged.json`)]);
    cli('binOfRange', ['-i', at(`${coder}.ranged.json`), '-o', at(`${coder}.bin`)]);
  }
});

const readJson = (name: string) => JSON.parse(readFileSync(at(name), 'utf8'));

// ---- Checks on images ----

/** Checks the PNG signature and IHDR size, decodes it, and returns its RGBA pixels. */
async function decodePng(path: string, width: number, height: number): Promise<Uint8ClampedArray> {
  const bytes = readFileSync(path);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${path} is not a PNG`);
  assert.equal(bytes.toString('latin1', 12, 16), 'IHDR');
  assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [width, height], 'IHDR size');
  const image = await loadImage(bytes);
  assert.deepEqual([image.width, image.height], [width, height], 'decoded size');
  const ctx = createCanvas(width, height).getContext('2d');
  ctx.drawImage(image, 0, 0);
  return ctx.getImageData(0, 0, width, height).data;
}

/** Share of pixels within `tol` of a colour. */
function share(pixels: Uint8ClampedArray, hex: string, tol = 6): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let hits = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (Math.abs(pixels[i] - r) <= tol && Math.abs(pixels[i + 1] - g) <= tol && Math.abs(pixels[i + 2] - b) <= tol) hits++;
  }
  return hits / (pixels.length / 4);
}

const NAME = /^[A-Za-z_:][\w:.-]*/;
const ENTITY = /&(?:[A-Za-z][\w.-]*|#\d+|#x[0-9A-Fa-f]+);/y;

/** A strict well-formedness check (tags balanced and properly nested, attributes quoted and unique, entities valid); returns the root element. */
function parseXml(xml: string): { name: string; attrs: Record<string, string>; elements: number } {
  let i = 0, elements = 0;
  const stack: string[] = [];
  let rootEl: { name: string; attrs: Record<string, string> } | undefined;
  const fail = (what: string): never => assert.fail(`XML: ${what} at offset ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  const checkText = (text: string, where: number) => {
    for (let k = text.indexOf('&'); k >= 0; k = text.indexOf('&', k + 1)) {
      ENTITY.lastIndex = k;
      if (!ENTITY.test(text)) { i = where + k; fail('bad entity'); }
    }
  };
  if (xml.startsWith('\uFEFF')) i = 1;
  if (xml.startsWith('<?xml', i)) i = xml.indexOf('?>', i) + 2;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== '') fail('text outside the root element');
    checkText(text, i);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) { i = xml.indexOf('-->', i) + 3; if (i < 3) fail('unclosed comment'); continue; }
    if (xml.startsWith('<![CDATA[', i)) { i = xml.indexOf(']]>', i) + 3; if (i < 3) fail('unclosed CDATA'); continue; }
    if (xml.startsWith('<?', i)) { i = xml.indexOf('?>', i) + 2; if (i < 2) fail('unclosed processing instruction'); continue; }
    if (xml.startsWith('</', i)) {
      const name = NAME.exec(xml.slice(i + 2))?.[0] ?? fail('bad end tag');
      if (stack.pop() !== name) fail(`</${name}> does not close the open element`);
      i += 2 + name.length;
      while (/\s/.test(xml[i])) i++;
      if (xml[i++] !== '>') fail('bad end tag');
      continue;
    }
    const name = NAME.exec(xml.slice(i + 1))?.[0] ?? fail('bad start tag');
    if (stack.length === 0 && rootEl) fail('a second root element');
    i += 1 + name.length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const space = /^\s*/.exec(xml.slice(i))![0].length;
      i += space;
      if (xml.startsWith('/>', i)) { i += 2; break; }
      if (xml[i] === '>') { i++; stack.push(name); break; }
      if (space === 0) fail('attributes must be separated by white space');
      const attr = NAME.exec(xml.slice(i))?.[0] ?? fail('bad attribute name');
      i += attr.length;
      const m = /^\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(xml.slice(i)) ?? fail(`attribute ${attr} without a quoted value`);
      if (attr in attrs) fail(`attribute ${attr} twice`);
      attrs[attr] = m[2] ?? m[3];
      checkText(attrs[attr], i);
      i += m[0].length;
    }
    elements++;
    rootEl ??= { name, attrs };
  }
  if (stack.length) fail(`unclosed <${stack[stack.length - 1]}>`);
  if (!rootEl) fail('no root element');
  return { ...rootEl!, elements };
}

test('the XML check itself rejects what is not well formed', () => {
  assert.equal(parseXml('<?xml version="1.0"?><svg a="1"><g/><path d="M0 0"></path></svg>').name, 'svg');
  for (const bad of ['<svg><g></svg>', '<svg></g></svg>', '<svg a=1></svg>', '<svg a="1" a="2"/>', '<svg>&nope</svg>', '<svg/><svg/>', '<svg>', 'text<svg/>']) {
    assert.throws(() => parseXml(bad), /XML: /, bad);
  }
});

async function checkSvg(path: string, width: number, height: number): Promise<void> {
  const xml = readFileSync(path, 'utf8');
  const svg = parseXml(xml);
  assert.equal(svg.name, 'svg');
  assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.deepEqual([Number(svg.attrs.width), Number(svg.attrs.height)], [width, height]);
  assert.ok(svg.elements > 50, `only ${svg.elements} elements: nothing drawn?`);
  // The SVG also renders as an image of the same size.
  const image = await loadImage(Buffer.from(xml));
  assert.deepEqual([image.width, image.height], [width, height]);
}

// ---- Figures ----

const BLUE = '#3b6ea8', ORANGE = '#e08a2c';

test('plotTokenHist: PNG of the given size with the bars drawn, SVG well formed, overlay and log scale', async () => {
  cli('plotTokenHist', ['-i', at('exact.tt.json'), '-o', at('hist.png')]);
  const pixels = await decodePng(at('hist.png'), 1000, 600);
  assert.ok(share(pixels, BLUE) > 0.02, 'no bars in the default colour');
  assert.ok(share(pixels, '#ffffff') > 0.5, 'the background is not white');
  cli('plotTokenHist', ['-i', at('exact.tt.json'), '-o', at('hist.svg'), '--width', '640', '--height', '400', '--title', 'Ranks']);
  await checkSvg(at('hist.svg'), 640, 400);
  cli('plotTokenHist', ['-i', at('exact.tt.json'), '--overlay', at('rank.tt.json'), '--log', '--min', '0', '--max', '20', '-o', at('hist2.png'), '--width', '800', '--height', '500']);
  const both = await decodePng(at('hist2.png'), 800, 500);
  assert.ok(share(both, BLUE) > 0.01 && share(both, ORANGE) > 0.01, 'the overlay is not drawn in its own colour');
  // --format wins over the extension; to stdout.
  const out = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/plotTokenHist.ts'), '-i', at('exact.tt.json'), '--format', 'svg'], { cwd: root });
  assert.equal(out.status, 0);
  assert.match(out.stdout.subarray(0, 200).toString(), /<svg/);
});

test('plotCumBits: PNG and SVG, with the reference lines', async () => {
  cli('plotCumBits', ['-i', at('exact.tt.json'), '-o', at('cum.png'), '--gzip', '--raw', '--rate', '10']);
  const pixels = await decodePng(at('cum.png'), 1000, 600);
  assert.ok(share(pixels, BLUE) > 0.001, 'no model line');
  assert.ok(share(pixels, ORANGE) > 0.0005, 'no gzip line');
  cli('plotCumBits', ['-i', at('rank.tt.json'), '-o', at('cum.svg'), '--x', 'tokens']);
  await checkSvg(at('cum.svg'), 1000, 600);
});

test('plotBench: bars from a bench file, PNG and SVG; a wrong file is refused in one line', async () => {
  cli('plotBench', ['-i', at('bench.json'), '-o', at('bench.png'), '--width', '700', '--height', '420']);
  const pixels = await decodePng(at('bench.png'), 700, 420);
  assert.ok(share(pixels, BLUE) > 0.02 && share(pixels, ORANGE) > 0.002, 'bars of both files');
  cli('plotBench', ['-i', at('bench.json'), '-o', at('bench.svg')]);
  await checkSvg(at('bench.svg'), 1000, 600);
  writeFileSync(at('bad-bench.json'), JSON.stringify([{ name: 'x', file: 'a', bytes: -1, bitsPerByte: 2 }]));
  const bad = cli('plotBench', ['-i', at('bad-bench.json'), '-o', at('bad.png')], { ok: false });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^plotBench: bench entry 0 must be .*\n$/);
});

test('chartjs-node-canvas draws on @napi-rs/canvas (the override in package.json), to PNG and SVG', async () => {
  const requireHere = createRequire(import.meta.url);
  const canvasOfChartjsNodeCanvas = createRequire(requireHere.resolve('chartjs-node-canvas'))('canvas/package.json');
  const napi = requireHere('@napi-rs/canvas/package.json');
  assert.deepEqual([canvasOfChartjsNodeCanvas.name, canvasOfChartjsNodeCanvas.version], [napi.name, napi.version], 'chartjs-node-canvas would load node-canvas');
  writeFileSync(at('lib.png'), plotBench(BENCH, { format: 'png', width: 500, height: 300 }));
  const pixels = await decodePng(at('lib.png'), 500, 300);
  assert.ok(share(pixels, BLUE) > 0.02 && share(pixels, '#ffffff') > 0.5, 'bars on a white background');
  writeFileSync(at('lib.svg'), plotBench(BENCH, { format: 'svg', width: 500, height: 300 }));
  await checkSvg(at('lib.svg'), 500, 300);
});

// ---- figures/*/run.sh ----

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function figureScript(name: string, args: string[], env: NodeJS.ProcessEnv = process.env, bash = 'bash') {
  return spawnSync(bash, [join(root, 'figures', name, 'run.sh'), ...args], { cwd: root, encoding: 'utf8', env });
}

test('figures/*/run.sh write to -o DIR, by default to the git-ignored figures/out/NAME/, never over the committed images', async () => {
  const committed = ['bench.png', 'bench.svg'].map((f) => join(root, 'figures', 'bench', f));
  const before = committed.map(sha256);

  const given = figureScript('bench', ['-o', at('fig-out'), at('bench.json')]);
  assert.equal(given.status, 0, given.stderr);
  await decodePng(at('fig-out/bench.png'), 1000, 600);
  await checkSvg(at('fig-out/bench.svg'), 1000, 600);

  const byDefault = figureScript('bench', [at('bench.json')]);
  assert.equal(byDefault.status, 0, byDefault.stderr);
  const out = join(root, 'figures', 'out', 'bench');
  assert.equal(byDefault.stderr, `bench: wrote ${out}/bench.png and bench.svg\n`);
  for (const f of ['bench.png', 'bench.svg']) assert.equal(sha256(join(out, f)), sha256(at(`fig-out/${f}`)), `${f}: the same figure`);
  execFileSync('git', ['check-ignore', '-q', join(out, 'bench.png')], { cwd: root });

  assert.deepEqual(committed.map(sha256), before, 'a committed image was rewritten');
  const unknown = figureScript('bench', ['--force']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown option --force \(usage: run\.sh \[-o DIR \| --update\] \[INPUT\]\)\n$/);
});

test('figures/heatmap/run.sh without Chromium writes the page and says in one line that it skipped the screenshot', () => {
  // A PATH with only what the script runs: no Chromium on it, whatever this machine has.
  const bin = at('bin-without-chromium');
  mkdirSync(bin);
  for (const tool of ['bash', 'node', 'dirname', 'basename', 'mkdir', 'head']) {
    const path = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    symlinkSync(path, join(bin, tool));
  }
  const { CHROMIUM: _, ...env } = process.env;
  const r = figureScript('heatmap', ['-o', at('heat-out'), at('exact.tt.json')], { ...env, PATH: bin }, join(bin, 'bash'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `heatmap: wrote ${at('heat-out')}/heatmap.html; skipped heatmap.png: no Chromium for the screenshot (apt-get install chromium, or set CHROMIUM to its path)\n`);
  assert.ok(existsSync(at('heat-out/heatmap.html')) && !existsSync(at('heat-out/heatmap.png')));
});

test('figures refuse an unknown extension and an unranked document, in one line', () => {
  const pdf = cli('plotTokenHist', ['-i', at('exact.tt.json'), '-o', at('hist.pdf')], { ok: false });
  assert.equal(pdf.status, 1);
  assert.match(pdf.stderr, /^plotTokenHist: cannot tell the image format of .*hist\.pdf.*\n$/);
  const raw = cli('plotCumBits', ['-i', at('toks.json'), '-o', at('x.png')], { ok: false });
  assert.equal(raw.status, 1);
  assert.match(raw.stderr, /^plotCumBits: .*run modelToInx first\n$/);
});

// ---- Heatmap ----

test('tokenPieces: characters split across tokens go whole to the first, and the pieces join into the text', async () => {
  const { tokenizer } = await loadTokenizer('llmc-tiny');
  const ids = (readJson('toks.json').tokenList as number[][]).map((t) => t[0]);
  const pieces = tokenPieces(ids, tokenizer);
  assert.equal(pieces.length, ids.length);
  assert.equal(pieces.join(''), TEXT);
  assert.ok(pieces.includes(''), 'expected some character (🙂, 日本語) split across tokens');
  assert.ok(pieces.some((p) => p.includes('🙂')) && !pieces.some((p) => p.includes('\uFFFD')));
});

/** The page's embedded data. */
function pageData(html: string): { text: string[]; ids: number[]; rank: number[]; bits: (number | null)[] } {
  const m = /<script type=application\/json id=data>([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'no data element');
  return JSON.parse(m[1]);
}

test('plotHeatmap: one self-contained page carrying the whole text and every token', () => {
  cli('plotHeatmap', ['-i', at('exact.tt.json'), '-o', at('heatmap.html')]);
  const html = readFileSync(at('heatmap.html'), 'utf8');
  assert.doesNotMatch(html, /(?:src|href)\s*=|url\(|@import|https?:\/\//i, 'the page must not load anything');
  assert.equal((html.match(/<\/script>/g) ?? []).length, 2, 'the text must not close a script element');
  const doc = readJson('exact.tt.json');
  const data = pageData(html);
  assert.equal(data.text.join(''), TEXT);
  assert.deepEqual(data.ids, doc.tokenList.map((t: number[]) => t[0]));
  assert.deepEqual(data.rank, doc.tokenList.map((t: number[]) => t[1]));
  data.bits.forEach((b, i) => assert.ok(b !== null && Math.abs(b + Math.log2(doc.tokenList[i][2])) < 1e-3, `bits of token ${i}`));
});

const chromium = findChromium();
const noChromium = chromium ? false : 'no Chromium (/usr/bin/chromium or $CHROMIUM): apt-get install chromium to run this test';

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&nbsp;/g, '\u00a0').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

test('plotHeatmap in headless Chromium: the script renders the text three times, and a screenshot is taken', { skip: noChromium }, async () => {
  cli('plotHeatmap', ['-i', at('rank.tt.json'), '-o', at('heat.html'), '--png', at('heat.png'), '--title', 'Test page']);
  const pixels = await decodePng(at('heat.png'), 1200, 900);
  let warm = 0;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i] - pixels[i + 2] > 60) warm++;
  assert.ok(warm / (pixels.length / 4) > 0.02, 'no coloured tokens in the screenshot');

  const dom = runChromium(at('heat.html'));
  const tokens = readJson('rank.tt.json').tokenList.length;
  assert.match(dom, new RegExp(`<body data-tokens="${tokens}"`), 'the page script did not run to its end');
  const panels = [...dom.matchAll(/<section id="(\w+)">[\s\S]*?<div class="text">([\s\S]*?)<\/div><\/section>/g)];
  assert.deepEqual(panels.map((m) => m[1]), ['rank', 'prob', 'bits']);
  const units = pageData(readFileSync(at('heat.html'), 'utf8')).text.filter((t, i) => i === 0 || t !== '').length;
  for (const [, id, body] of panels) {
    assert.equal(unescape(body.replace(/<[^>]*>/g, '')), TEXT, `text of panel ${id}`);
    assert.equal((body.match(/<span class="(c\d+|m)">/g) ?? []).length, units, `spans of panel ${id}`);
  }
  // The tokens the model missed (rank mode: index -1) get the miss colour in the rank panel.
  const misses = readJson('rank.tt.json').tokenList.filter((t: number[]) => t[1] === -1).length;
  assert.ok(misses > 0 && (panels[0][2].match(/<span class="m">/g) ?? []).length > 0);
});

// ---- Stats ----

const statsCache = new Map<string, Record<string, number>>();
/** statsOfInx --json or statsOfRange --json of a file, run once. */
function statsOf(script: 'statsOfInx' | 'statsOfRange', name: string): Record<string, number> {
  const key = `${script} ${name}`;
  if (!statsCache.has(key)) statsCache.set(key, JSON.parse(cli(script, ['-i', at(name), '--json']).stdout));
  return statsCache.get(key)!;
}

test('statsOfInx: hits and misses add up, percents sum to 100, cross-entropy matches Σ −log2 p', () => {
  for (const coder of ['exact', 'rank']) {
    const doc = readJson(`${coder}.tt.json`);
    const s = statsOf('statsOfInx', `${coder}.tt.json`);
    const n = doc.tokenList.length;
    assert.equal(s.tokens, n);
    assert.equal(s.bytes, Buffer.byteLength(TEXT));
    assert.equal(s.hits + s.misses, n);
    assert.equal(s.perfectHits + s.otherHits, s.hits);
    assert.ok(Math.abs(s.hitPercent + s.missPercent - 100) < 1e-9);
    assert.ok(Math.abs(s.perfectHitPercent + s.otherHitPercent + s.missPercent - 100) < 1e-9);
    const topN = doc.topN;
    assert.equal(s.perfectHits, doc.tokenList.filter((t: number[]) => t[1] === 0).length);
    assert.equal(s.misses, doc.tokenList.filter((t: number[]) => t[1] === -1 || t[1] >= topN).length);
    const bits = doc.tokenList.reduce((sum: number, t: number[]) => sum - Math.log2(t[2]), 0);
    assert.ok(Math.abs(s.bits - bits) < 1e-6 * bits, `cross-entropy ${s.bits} vs ${bits}`);
    assert.ok(Math.abs(s.bitsPerToken - bits / n) < 1e-9);
    assert.ok(Math.abs(s.bitsPerByte - bits / Buffer.byteLength(TEXT)) < 1e-9);
    if (coder === 'exact') {
      const direct = doc.intervals.reduce((sum: number, [, f]: number[]) => sum + doc.precision - Math.log2(f), 0);
      assert.ok(Math.abs(s.intervalBits - direct) < 1e-6 * direct);
      assert.ok(Math.abs(s.intervalBits - s.bits) < 0.01 * s.bits, 'the exact intervals cost about the cross-entropy');
    }
    const text = cli('statsOfInx', ['-i', at(`${coder}.tt.json`)]).stdout;
    assert.match(text, new RegExp(`misses \\(rank ≥ topN\\)\\s+${s.misses} \\(${s.missPercent.toFixed(2)}%\\)`));
    assert.match(text, new RegExp(`bits/byte\\s+${s.bitsPerByte.toFixed(3)}`));
  }
  // Both coders ran the same model on the same text: the same hits and misses.
  const [a, b] = ['exact', 'rank'].map((c) => statsOf('statsOfInx', `${c}.tt.json`));
  assert.deepEqual([a.hits, a.perfectHits, a.misses], [b.hits, b.perfectHits, b.misses]);
});

test('statsOfRange: table and stream sizes, the .bin size, and the hits the table counts', () => {
  const inx = statsOf('statsOfInx', 'rank.tt.json');
  for (const coder of ['exact', 'rank']) {
    const ranged = readJson(`${coder}.ranged.json`);
    const s = statsOf('statsOfRange', `${coder}.ranged.json`);
    assert.equal(s.tokens, ranged.length);
    assert.equal(s.streamWords, ranged.compressed.length);
    assert.equal(s.streamBytes, 2 * ranged.compressed.length);
    assert.equal(s.tableSymbols, ranged.inxToSym.length);
    assert.equal(s.binBytes, readFileSync(at(`${coder}.bin`)).length);
    assert.ok(Math.abs(s.binBitsPerByte - (8 * s.binBytes) / Buffer.byteLength(TEXT)) < 1e-9);
    assert.ok(s.binBytes > s.streamBytes + s.tableBytes, 'the .bin holds the table and the stream');
    if (coder === 'rank') {
      assert.deepEqual([s.hits, s.perfectHits, s.misses], [inx.hits, inx.perfectHits, inx.misses]);
    } else {
      assert.equal(s.hits, null);
      assert.equal(s.tableSymbols, 0);
    }
    const text = cli('statsOfRange', ['-i', at(`${coder}.ranged.json`)]).stdout;
    assert.match(text, new RegExp(`\\.bin\\s+${s.binBytes.toLocaleString('en-US')} bytes`));
  }
});
