// plotHeatmap: one self-contained HTML page that shows the text three times, each token coloured by what
// the model made of it: its rank, 1 − √p, and the bits it cost. The data goes in as compact arrays and a
// small inline script renders the spans, so a whole book stays quick to open; no external requests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from './cli.ts';
import type { TokensDoc } from './ir.ts';
import type { Tokenizer } from './model.ts';
import { bitsOf, int, isMiss, statsOfInx } from './stats.ts';

const DECODE = { skip_special_tokens: false, clean_up_tokenization_spaces: false };
const REPLACEMENT = '\uFFFD';
/** Longest run of tokens merged into one piece (characters split across tokens can chain; real text needs a few). */
const MAX_RUN = 64;

/**
 * The text of each token, such that the pieces join into exactly the decoded text. A byte-level BPE token
 * can hold part of a UTF-8 character: that token and those that complete the character form a run whose
 * text goes to the run's first token, the others getting ''.
 */
export function tokenPieces(ids: number[], tokenizer: Tokenizer): string[] {
  const pieces = new Array<string>(ids.length).fill('');
  for (let i = 0; i < ids.length; ) {
    let j = i + 1;
    let text = tokenizer.decode(ids.slice(i, j), DECODE);
    // A run that ends inside a character decodes with a trailing U+FFFD: take in the next token.
    while (text.endsWith(REPLACEMENT) && j < ids.length && j - i < MAX_RUN) text = tokenizer.decode(ids.slice(i, ++j), DECODE);
    pieces[i] = text;
    i = j;
  }
  if (pieces.join('') !== tokenizer.decode(ids, DECODE)) throw new UserError('cannot split the decoded text into tokens: a character spans too many tokens');
  return pieces;
}

// ---- Colours: 17 steps from white (cheap) to dark red (expensive), and one for misses ----

const STEPS = 17;
const STOPS: [number, [number, number, number]][] = [
  [0, [255, 255, 255]],
  [0.2, [255, 243, 176]],
  [0.45, [253, 184, 99]],
  [0.7, [232, 85, 62]],
  [1, [110, 0, 10]],
];
const MISS_COLOUR = '#4b1d7a';

function ramp(t: number): [number, number, number] {
  let k = 1;
  while (k < STOPS.length - 1 && STOPS[k][0] < t) k++;
  const [t0, a] = STOPS[k - 1], [t1, b] = STOPS[k];
  const f = (t - t0) / (t1 - t0);
  return [0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as [number, number, number];
}

const hex = (rgb: number[]) => '#' + rgb.map((c) => c.toString(16).padStart(2, '0')).join('');
const dark = ([r, g, b]: number[]) => 0.299 * r + 0.587 * g + 0.114 * b < 140;

function paletteCss(): string {
  const rules: string[] = [];
  for (let k = 0; k < STEPS; k++) {
    const rgb = ramp(k / (STEPS - 1));
    rules.push(`.c${k}{background:${hex(rgb)}${dark(rgb) ? ';color:#fff' : ''}}`);
  }
  rules.push(`.m{background:${MISS_COLOUR};color:#fff}`);
  return rules.join('\n');
}

/** One panel's legend: a swatch per step, labelled every few steps. */
function legend(labels: Record<number, string>, miss: boolean): string {
  const swatches: string[] = [];
  for (let k = 0; k < STEPS; k++) swatches.push(`<i class=c${k}>${labels[k] ?? ''}</i>`);
  if (miss) swatches.push(`<i class=m>miss</i>`);
  return `<span class=legend>${swatches.join('')}</span>`;
}

const PANELS = [
  { id: 'rank', title: 'Rank of the true token (0 = first choice)', legend: legend({ 0: '0', 4: '4', 8: '8', 12: '12', 16: '16+' }, true) },
  { id: 'prob', title: 'Probability: colour 1 − √p', legend: legend({ 0: 'p=1', 4: '.56', 8: '.25', 12: '.06', 16: '0' }, false) },
  { id: 'bits', title: 'Bits spent: −log₂ p (16+ clipped)', legend: legend({ 0: '0', 4: '4', 8: '8', 12: '12', 16: '16+' }, false) },
];

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface HeatmapOptions {
  title?: string;
}

/** The page: header with the numbers, three panels, and the data for the inline script. */
export function heatmapHtml(doc: TokensDoc, pieces: string[], options: HeatmapOptions = {}): string {
  if (pieces.length !== doc.tokenList.length) throw new UserError(`${pieces.length} token texts for ${doc.tokenList.length} tokens`);
  const s = statsOfInx(doc);
  const bits = doc.tokenList.map(([, , p]) => {
    const b = bitsOf(p);
    return Number.isFinite(b) ? Math.round(b * 1000) / 1000 : null;
  });
  const data = {
    topN: doc.topN ?? 0,
    ids: doc.tokenList.map((t) => t[0]),
    rank: doc.tokenList.map((t) => t[1]),
    miss: doc.tokenList.flatMap(([, index], i) => (isMiss(index, doc.topN) ? [i] : [])),
    bits,
    text: pieces,
  };
  const title = options.title ?? `${doc.modelName}: what the model sees`;
  const fmt = (n: number | null, d = 3) => (n === null ? 'n/a' : n.toFixed(d));
  const meta = [
    `${doc.modelName}${doc.mode ? `, ${doc.mode} mode` : ''}`,
    `${int(s.tokens)} tokens`,
    `${int(s.bytes)} bytes`,
    `${fmt(s.bitsPerByte)} bits/byte, ${fmt(s.bitsPerToken)} bits/token (Σ −log₂ p)`,
    `rank 0: ${s.perfectHitPercent.toFixed(1)}%, misses (rank ≥ ${doc.topN ?? '?'}): ${s.missPercent.toFixed(1)}%`,
  ].join(' · ');
  const sections = PANELS.map((p) => `<section id=${p.id}><h2>${escapeHtml(p.title)} ${p.legend}</h2><div class=text></div></section>`).join('\n');
  // '<' escaped inside the JSON so that no '</script>' or '<!--' in the text can end the element.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
${PAGE_CSS}
${paletteCss()}
</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1>
<p class=meta>${escapeHtml(meta)}</p>
<p class=help>Hover over a token for its id, rank, probability and bits; the three panels scroll together.
<button id=layout type=button>side by side</button></p></header>
<main class=stack>
${sections}
</main>
<div id=tip></div>
<script type=application/json id=data>${json}</script>
<script>
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

const PAGE_CSS = `*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{display:flex;flex-direction:column;font:14px/1.4 system-ui,'DejaVu Sans',sans-serif;color:#222;background:#fff}
header{padding:6px 12px;border-bottom:1px solid #ddd}
h1{font-size:17px;margin:0}
header p{margin:2px 0 0}
.meta{color:#333}
.help{color:#666;font-size:12.5px}
.help button{font-size:12px;margin-left:8px}
main{flex:1;min-height:0;display:grid;gap:6px;padding:6px}
main.stack{grid-template-rows:repeat(3,minmax(0,1fr))}
main.side{grid-template-columns:repeat(3,minmax(0,1fr))}
main.side h2{flex-direction:column;align-items:flex-start}
section{display:flex;flex-direction:column;min-height:0;border:1px solid #bbb;border-radius:4px;overflow:hidden}
h2{display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px;margin:0;padding:3px 8px;font-size:13px;background:#f3f3f3;border-bottom:1px solid #ddd}
.legend{display:inline-flex;font-weight:normal;font-size:10px;line-height:14px}
.legend i{font-style:normal;display:inline-block;min-width:16px;height:14px;padding:0 1px;text-align:center;border:1px solid #ccc;border-left:0}
.legend i:first-child{border-left:1px solid #ccc}
.legend i.m{margin-left:6px;padding:0 4px;border-left:1px solid #ccc}
.text{position:relative;flex:1;overflow:auto;padding:4px 8px;white-space:pre-wrap;overflow-wrap:anywhere;tab-size:8;font:12.5px/1.5 'DejaVu Sans Mono',Menlo,Consolas,monospace}
.text>div{content-visibility:auto;contain-intrinsic-size:auto 600px}
.text span.hl{outline:2px solid #0a84ff;outline-offset:0}
#tip{position:fixed;display:none;z-index:9;pointer-events:none;max-width:560px;padding:5px 8px;border-radius:4px;background:#222;color:#eee;font:12px/1.45 'DejaVu Sans Mono',monospace;white-space:pre-wrap;box-shadow:0 2px 8px #0005}`;

// Plain JS for the page (no template literals: it lives in one).
const PAGE_SCRIPT = String.raw`(function () {
  'use strict';
  var d = JSON.parse(document.getElementById('data').textContent);
  var n = d.ids.length, topN = d.topN;
  var missSet = new Uint8Array(n);
  d.miss.forEach(function (i) { missSet[i] = 1; });
  var bitsAt = function (i) { return d.bits[i] === null ? Infinity : d.bits[i]; };

  // A unit is a token with text and the empty-text tokens after it (the rest of a character split across tokens).
  var start = [];
  for (var i = 0; i < n; i++) if (i === 0 || d.text[i] !== '') start.push(i);
  var U = start.length;
  start.push(n);
  var esc = new Array(U), cls = { rank: new Array(U), prob: new Array(U), bits: new Array(U) };
  for (var u = 0; u < U; u++) {
    var rank = 0, miss = false, bits = 0;
    for (var t = start[u]; t < start[u + 1]; t++) {
      rank = Math.max(rank, d.rank[t]);
      miss = miss || missSet[t] === 1;
      bits += bitsAt(t);
    }
    esc[u] = d.text[start[u]].replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    cls.rank[u] = miss ? 'm' : 'c' + Math.min(16, rank);
    cls.prob[u] = 'c' + Math.round(16 * (1 - Math.sqrt(Math.pow(2, -bits))));
    cls.bits[u] = 'c' + Math.min(16, Math.floor(bits));
  }
  // Chunks of about 1500 units, cut after a newline so that no line is split: the browser lays out only those in view.
  var chunkStart = [0];
  for (u = 0; u < U; u++) {
    if (u + 1 < U && u + 1 - chunkStart[chunkStart.length - 1] >= 1500 && d.text[start[u]].slice(-1) === '\n') chunkStart.push(u + 1);
  }
  chunkStart.push(U);

  var ids = ['rank', 'prob', 'bits'], texts = [];
  ids.forEach(function (id) {
    var c = cls[id], html = [];
    for (var k = 0; k + 1 < chunkStart.length; k++) {
      html.push('<div data-k=' + k + '>');
      for (var v = chunkStart[k]; v < chunkStart[k + 1]; v++) html.push('<span class=' + c[v] + '>' + esc[v] + '</span>');
      html.push('</div>');
    }
    var el = document.querySelector('#' + id + ' .text');
    el.innerHTML = html.join('');
    texts.push(el);
  });

  // Tooltip, and the same token outlined in every panel.
  var tip = document.getElementById('tip'), lit = [];
  function fmtP(p) { return p >= 0.01 ? p.toFixed(3) : p > 0 ? p.toExponential(2) : '0'; }
  function describe(u) {
    var lines = [JSON.stringify(d.text[start[u]])];
    for (var t = start[u]; t < start[u + 1]; t++) {
      var b = bitsAt(t), r = d.rank[t];
      var rk = r < 0 ? 'miss (rank >= ' + topN + ')' : 'rank ' + r + (missSet[t] ? ' (>= topN ' + topN + ')' : '');
      lines.push('#' + t + '  id ' + d.ids[t] + '  ' + rk + '  p ' + fmtP(Math.pow(2, -b)) + '  ' + b.toFixed(2) + ' bits');
    }
    if (start[u + 1] - start[u] > 1) lines.push('(one character split across ' + (start[u + 1] - start[u]) + ' tokens)');
    return lines.join('\n');
  }
  // A span's chunk, and its place in the chunk.
  function placeOf(span) {
    var chunk = span.parentNode;
    if (!chunk || chunk.dataset.k === undefined) return null;
    return { k: +chunk.dataset.k, i: Array.prototype.indexOf.call(chunk.children, span) };
  }
  texts.forEach(function (el) {
    el.addEventListener('mouseover', function (e) {
      var at = e.target.tagName === 'SPAN' ? placeOf(e.target) : null;
      if (at === null) return;
      lit.forEach(function (s) { s.classList.remove('hl'); });
      lit = texts.map(function (x) { return x.children[at.k].children[at.i]; });
      lit.forEach(function (s) { s.classList.add('hl'); });
      tip.textContent = describe(chunkStart[at.k] + at.i);
      tip.style.display = 'block';
    });
    el.addEventListener('mousemove', function (e) {
      var w = tip.offsetWidth, h = tip.offsetHeight;
      var x = e.clientX + 14, y = e.clientY + 18;
      if (x + w > window.innerWidth - 4) x = Math.max(4, e.clientX - w - 14);
      if (y + h > window.innerHeight - 4) y = Math.max(4, e.clientY - h - 18);
      tip.style.left = x + 'px';
      tip.style.top = y + 'px';
    });
    el.addEventListener('mouseleave', function () {
      tip.style.display = 'none';
      lit.forEach(function (s) { s.classList.remove('hl'); });
      lit = [];
    });
  });

  // Scroll together: the others show the same chunk at the same fraction (chunks out of view may be estimates).
  var leader = null, timer = 0;
  function chunkAt(el, y) {
    var c = el.children, lo = 0, hi = c.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (c[mid].offsetTop - el.firstElementChild.offsetTop <= y) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
  texts.forEach(function (el) {
    el.addEventListener('scroll', function () {
      if (leader !== null && leader !== el) return;
      leader = el;
      clearTimeout(timer);
      timer = setTimeout(function () { leader = null; }, 150);
      var base = el.firstElementChild ? el.firstElementChild.offsetTop : 0;
      var k = chunkAt(el, el.scrollTop), a = el.children[k];
      if (!a) return;
      var frac = (el.scrollTop - (a.offsetTop - base)) / Math.max(1, a.offsetHeight);
      texts.forEach(function (o) {
        if (o === el) return;
        var b = o.children[k];
        o.scrollTop = b.offsetTop - o.firstElementChild.offsetTop + frac * b.offsetHeight;
        o.scrollLeft = el.scrollLeft;
      });
    }, { passive: true });
  });

  var main = document.querySelector('main'), button = document.getElementById('layout');
  button.addEventListener('click', function () {
    var side = main.classList.toggle('side');
    main.classList.toggle('stack', !side);
    button.textContent = side ? 'stacked' : 'side by side';
  });
  document.body.dataset.tokens = String(n);
})();`;

// ---- Headless Chromium ----

/** The Chromium to run: $CHROMIUM, or the first of the usual names found on $PATH. */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

/**
 * Opens a page in headless Chromium and either takes a screenshot (png given) or returns the DOM after its
 * scripts ran. A fresh profile folder each time, so nothing is shared with another browser.
 */
export function runChromium(htmlPath: string, { png, width = 1200, height = 900 }: { png?: string; width?: number; height?: number } = {}): string {
  const chromium = findChromium();
  if (!chromium) throw new UserError('no Chromium found (install it, e.g. apt-get install chromium, or set CHROMIUM)');
  const profile = mkdtempSync(join(tmpdir(), 'llmc-chromium-'));
  const flags = [
    '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--window-size=${width},${height}`,
    '--disable-background-networking', '--disable-component-update', '--no-first-run', '--no-default-browser-check',
    `--user-data-dir=${profile}`,
  ];
  try {
    if (png) rmSync(png, { force: true });
    const out = execFileSync(chromium, [...flags, png ? `--screenshot=${resolve(png)}` : '--dump-dom', pathToFileURL(resolve(htmlPath)).href], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (png && !(existsSync(png) && statSync(png).size > 0)) throw new UserError(`Chromium wrote no screenshot to ${png}`);
    return out;
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as { stderr?: string; message: string };
    throw new UserError(`Chromium failed on ${htmlPath}: ${(e.stderr || e.message).trim().split('\n').pop()}`);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
