// The figures: chart.js through chartjs-node-canvas, to PNG, or to SVG on @napi-rs/canvas's SVG canvas (text as
// paths, so the file looks the same without the fonts). plotTokenHist: share of tokens per rank; plotCumBits:
// where in the text the bits go; plotBench: bits/byte per compressor.
import { gzipSync } from 'node:zlib';
import { createCanvas, SvgExportFlag } from '@napi-rs/canvas';
import type { Chart, ChartConfiguration, ChartType, Plugin } from 'chart.js';
import { ChartJSNodeCanvas } from 'chartjs-node-canvas';
import type { Argv } from 'yargs';
import { UserError } from './cli.ts';
import type { TokensDoc } from './ir.ts';
import { bitsOf, int, isMiss } from './stats.ts';

const FONT_FAMILY = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";

export type FigureFormat = 'png' | 'svg';

export interface FigureOptions {
  format: FigureFormat;
  width: number;
  height: number;
  title?: string;
}

/** The options every plot script shares; the format comes from --format, else from the -o extension. */
export function withFigure<T>(args: Argv<T>) {
  return args
    .option('format', { choices: ['png', 'svg'] as const, describe: 'image format (default: from the -o extension, png on stdout)' })
    .option('width', { type: 'number', default: 1000, describe: 'width in pixels' })
    .option('height', { type: 'number', default: 600, describe: 'height in pixels' })
    .option('title', { type: 'string', describe: 'title above the chart' })
    .requiresArg(['format', 'width', 'height', 'title']);
}

/** PNG or SVG: --format if given, else the output's extension. */
export function figureFormat(output: string | undefined, format?: FigureFormat): FigureFormat {
  if (format) return format;
  if (output === undefined || output === '-') return 'png';
  const ext = /\.([^./]+)$/.exec(output)?.[1]?.toLowerCase();
  if (ext === 'png' || ext === 'svg') return ext;
  throw new UserError(`cannot tell the image format of ${output}: name it .png or .svg, or give --format`);
}

function checkSize({ width, height }: FigureOptions): void {
  for (const [name, v] of Object.entries({ width, height })) {
    if (!Number.isInteger(v) || v < 100 || v > 10000) throw new UserError(`--${name} must be an integer from 100 to 10000`);
  }
}

interface BarLabelsOptions {
  label?: (dataset: number, index: number) => string;
}

declare module 'chart.js' {
  interface PluginOptionsByType<TType extends ChartType> {
    barLabels?: BarLabelsOptions;
  }
}

/** Writes a label above chosen bars: options.plugins.barLabels.label(datasetIndex, index) → text or ''. */
const barLabels: Plugin = {
  id: 'barLabels',
  afterDatasetsDraw(chart, _args, options: BarLabelsOptions) {
    if (!options.label) return;
    const { ctx } = chart;
    ctx.save();
    ctx.font = `11px ${FONT_FAMILY}`;
    ctx.fillStyle = '#222';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    chart.data.datasets.forEach((_, d) => {
      const meta = chart.getDatasetMeta(d);
      if (meta.hidden) return;
      meta.data.forEach((bar, i) => {
        const text = options.label!(d, i);
        if (text) ctx.fillText(text, bar.x, bar.y - 3);
      });
    });
    ctx.restore();
  },
};

/**
 * chartjs-node-canvas with the project's defaults, a white background, and SVG. It draws with its own copy of
 * chart.js on the `canvas` package, which package.json's overrides make @napi-rs/canvas (prebuilt Skia) in place
 * of node-canvas (built against Cairo). Its SVG path would call node-canvas's createCanvas(w, h, 'svg') and
 * toBuffer(), which @napi-rs/canvas spells createCanvas(w, h, flags) and getContent(): toSvg draws with the same
 * chart.js on that canvas instead.
 */
class FigureRenderer extends ChartJSNodeCanvas {
  constructor(width: number, height: number) {
    super({
      width,
      height,
      backgroundColour: '#fff',
      chartCallback: (chartJs) => {
        chartJs.defaults.font.family = FONT_FAMILY;
        chartJs.defaults.font.size = 13;
        chartJs.defaults.color = '#333';
      },
    });
  }

  toPng(config: ChartConfiguration): Uint8Array {
    return new Uint8Array(this.renderToBufferSync(config, 'image/png'));
  }

  /** Without animation chart.js draws once, at construction: the SVG is read right away (a redraw would paint twice into it). */
  toSvg(config: ChartConfiguration): Uint8Array {
    const canvas = createCanvas(this._width, this._height, SvgExportFlag.ConvertTextToPaths);
    const chart = new this._chartJs(canvas as unknown as HTMLCanvasElement, config);
    try {
      // Coordinates to 1/100 px: a much smaller file, and no visible difference.
      return new Uint8Array(Buffer.from(canvas.getContent().toString('utf8').replace(/(\.\d\d)\d+/g, '$1'), 'utf8'));
    } finally {
      chart.destroy();
    }
  }
}

/** Draws a chart.js configuration at the figure's size and encodes it. */
export function renderChart(config: ChartConfiguration, figure: FigureOptions): Uint8Array {
  checkSize(figure);
  const full: ChartConfiguration = {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio: 1 },
    plugins: [barLabels, ...(config.plugins ?? [])],
  };
  const renderer = new FigureRenderer(figure.width, figure.height);
  return figure.format === 'png' ? renderer.toPng(full) : renderer.toSvg(full);
}

const COLOURS = ['#3b6ea8', '#e08a2c', '#4f9a55', '#b5485d', '#7a5fa8', '#8c6d31'];
const DARKER = ['#1b3a63', '#8a4a0c', '#2a5e2f', '#6e2233', '#45306b', '#4f3c14'];

/** Names for the legend: the model name, and the file where two inputs share one. */
function labelsOf(docs: TokensDoc[], names: string[]): string[] {
  return docs.map((doc, i) => {
    const base = doc.modelName + (doc.mode ? ` (${doc.mode})` : '');
    return docs.filter((o) => o.modelName === doc.modelName).length > 1 ? `${base} · ${names[i]}` : base;
  });
}

// ---- plotTokenHist ----

export interface RankShares {
  /** One label per bar: 'miss' for misses, else the rank. */
  labels: string[];
  /** Percent of all tokens, per bar. */
  shares: number[];
  /** Percent of the tokens that fall outside the bars (hits ranked above max). */
  hidden: number;
}

/** Share of tokens at each rank from min to max; -1 is the miss bar (rank mode -1, or rank ≥ topN). */
export function rankShares(doc: TokensDoc, min: number, max: number): RankShares {
  const lo = Math.max(-1, min);
  const counts = new Array<number>(max - lo + 1).fill(0);
  let shown = 0;
  for (const [, index] of doc.tokenList) {
    const r = isMiss(index, doc.topN) ? -1 : index;
    if (r >= lo && r <= max) {
      counts[r - lo]++;
      shown++;
    }
  }
  const n = doc.tokenList.length;
  const pct = (c: number) => (n > 0 ? (100 * c) / n : 0);
  return {
    labels: counts.map((_, k) => (k + lo === -1 ? 'miss' : String(k + lo))),
    shares: counts.map(pct),
    hidden: pct(n - shown),
  };
}

export interface TokenHistOptions {
  min: number;
  max: number;
  log: boolean;
  /** Legend names are disambiguated with these (file names) when two inputs share a model. */
  names: string[];
}

/** Whether a log-axis tick is 1, 2 or 5 times a power of ten (the others stay unlabelled). */
const roundTick = (v: number) => [1, 2, 5].some((m) => Math.abs(v / 10 ** Math.floor(Math.log10(v) + 1e-9) - m) < 1e-6);

export function plotTokenHist(docs: TokensDoc[], options: TokenHistOptions, figure: FigureOptions): Uint8Array {
  const { min, max } = options;
  if (!Number.isInteger(min) || !Number.isInteger(max) || max < Math.max(-1, min)) throw new UserError('--min and --max must be integers with max ≥ min ≥ -1');
  if (max - min > 5000) throw new UserError('at most 5000 bars: narrow --min/--max');
  const all = docs.map((doc) => rankShares(doc, min, max));
  const labels = labelsOf(docs, options.names);
  const subtitle = docs.map((doc, i) => {
    const miss = doc.mode === 'exact' ? `rank ≥ ${doc.topN}` : `not in top ${doc.topN}`;
    const hidden = all[i].hidden > 0 ? `, ranks above ${max} (not shown): ${all[i].hidden.toFixed(1)}%` : '';
    return `${labels[i]}: ${int(doc.tokenList.length)} tokens${all[i].labels[0] === 'miss' ? `, miss = ${miss}` : ''}${hidden}`;
  });
  const pct = (v: number) => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)) + '%';
  return renderChart(
    {
      type: 'bar',
      data: {
        labels: all[0].labels,
        datasets: all.map((s, d) => ({
          label: labels[d],
          data: s.shares,
          backgroundColor: s.labels.map((l) => (l === 'miss' ? DARKER[d % DARKER.length] : COLOURS[d % COLOURS.length])),
          borderWidth: 0,
          categoryPercentage: 0.85,
          barPercentage: 0.95,
        })),
      },
      options: {
        layout: { padding: { top: 4, right: 16, left: 4, bottom: 4 } },
        plugins: {
          title: { display: true, text: figure.title ?? 'Share of tokens at each rank of the model', font: { size: 16, weight: 'bold' } },
          subtitle: { display: true, text: subtitle, padding: { bottom: 8 } },
          // The legend shows each dataset's colour, not the darker one of its miss bar.
          legend: {
            display: docs.length > 1,
            labels: { generateLabels: (chart: Chart) => chart.data.datasets.map((ds, d: number) => ({ text: ds.label ?? '', fillStyle: COLOURS[d % COLOURS.length], lineWidth: 0, datasetIndex: d })) },
          },
          // Percent above the miss bar and the rank-0 bar, where the eye goes first.
          barLabels: { label: (d: number, i: number) => (docs.length === 1 && (all[d].labels[i] === 'miss' || all[d].labels[i] === '0') ? pct(all[d].shares[i]) : '') },
        },
        scales: {
          x: {
            title: { display: true, text: 'rank the model gave the true token (0 = its first choice)' },
            grid: { display: false },
            // Every label while they fit (rank 0 must not be skipped), else chart.js thins them out.
            ticks: { autoSkip: all[0].labels.length > 60, maxRotation: 0, font: { size: all[0].labels.length > 30 ? 11 : 13 } },
          },
          y: {
            type: options.log ? 'logarithmic' : 'linear',
            title: { display: true, text: `share of tokens (%${options.log ? ', log scale' : ''})` },
            ...(options.log ? {} : { beginAtZero: true, grace: '6%' }),
            ticks: { callback: (v) => (options.log && !roundTick(Number(v)) ? '' : `${+Number(v).toPrecision(3)}%`) },
          },
        },
      },
    },
    figure,
  );
}

// ---- plotCumBits ----

export interface CumBitsOptions {
  axis: 'bytes' | 'tokens';
  /** Draw the line of 8 bits per byte (the text stored as it is). */
  raw: boolean;
  /** Draw the average slope of gzip -9 on the same text. */
  gzip: boolean;
  /** Also draw the local cost, bits per byte (or token) over windows of 1/rateWindows of the text (0: not). */
  rateWindows: number;
  /** At most this many points per line. */
  points?: number;
}

export interface CumBitsSeries {
  /** Per sample: position (bytes or tokens), bytes so far, and Σ −log2 p so far. */
  x: number[];
  bytes: number[];
  bits: number[];
  totalBits: number;
  totalBytes: number;
}

/** Cumulative bits at up to `points` evenly spaced tokens (the last one always in), from each token's text. */
export function cumulativeBits(doc: TokensDoc, pieces: string[], axis: 'bytes' | 'tokens', points = 2000): CumBitsSeries {
  if (pieces.length !== doc.tokenList.length) throw new UserError(`${pieces.length} token texts for ${doc.tokenList.length} tokens`);
  const n = doc.tokenList.length;
  const step = Math.max(1, Math.ceil(n / points));
  const series: CumBitsSeries = { x: [0], bytes: [0], bits: [0], totalBits: 0, totalBytes: 0 };
  let bits = 0, bytes = 0;
  for (let i = 0; i < n; i++) {
    bits += bitsOf(doc.tokenList[i][2]);
    bytes += Buffer.byteLength(pieces[i], 'utf8');
    if ((i + 1) % step === 0 || i === n - 1) {
      series.x.push(axis === 'bytes' ? bytes : i + 1);
      series.bytes.push(bytes);
      series.bits.push(bits);
    }
  }
  series.totalBits = bits;
  series.totalBytes = bytes;
  return series;
}

const compact = (v: number) => (Math.abs(v) >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : Math.abs(v) >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

export function plotCumBits(doc: TokensDoc, pieces: string[], options: CumBitsOptions, figure: FigureOptions): Uint8Array {
  const s = cumulativeBits(doc, pieces, options.axis, options.points);
  if (!Number.isFinite(s.totalBits)) throw new UserError('a token has probability 0: its bits are infinite');
  if (s.totalBits === 0) throw new UserError('no probabilities in this document: give the output of modelToInx');
  const perByte = s.totalBytes > 0 ? s.totalBits / s.totalBytes : 0;
  // Lines proportional to the bytes are straight against bytes: two points draw them (SVG expands dashes).
  const straight = options.axis === 'bytes' ? [0, s.x.length - 1] : s.x.map((_, i) => i);
  const line = (label: string, ys: number[], colour: string, dash: number[] = [], at: number[] = s.x.map((_, i) => i)) => ({
    label,
    data: at.map((i) => ({ x: s.x[i], y: ys[i] })),
    borderColor: colour,
    backgroundColor: colour,
    borderWidth: dash.length ? 1.5 : 2,
    borderDash: dash,
    pointRadius: 0,
    yAxisID: 'y',
  });
  const datasets = [line(`${doc.modelName}: Σ −log₂ p = ${int(Math.round(s.totalBits))} bits, ${perByte.toFixed(3)} bits/byte`, s.bits, COLOURS[0])];
  if (options.gzip) {
    const text = Buffer.from(pieces.join(''), 'utf8');
    const slope = (8 * gzipSync(text, { level: 9 }).length) / Math.max(1, text.length);
    datasets.push(line(`gzip -9 on the same text: ${slope.toFixed(3)} bits/byte (average slope)`, s.bytes.map((b) => b * slope), COLOURS[1], [8, 4], straight));
  }
  if (options.raw) datasets.push(line('8 bits/byte: the text stored as it is', s.bytes.map((b) => 8 * b), '#888', [3, 3], straight));
  const unit = options.axis === 'bytes' ? 'byte' : 'token';
  if (options.rateWindows > 0) {
    // Slope of the cumulative line over a window centred on each sample, on its own axis at the right.
    const last = s.x.length - 1, half = Math.max(1, Math.round(last / options.rateWindows / 2));
    const rate = s.x.map((_, j) => {
      const a = Math.max(0, j - half), b = Math.min(last, j + half);
      return s.x[b] > s.x[a] ? (s.bits[b] - s.bits[a]) / (s.x[b] - s.x[a]) : 0;
    });
    const every = Math.max(1, Math.floor(half / 2)); // four points per window are enough
    const at = s.x.map((_, j) => j).filter((j) => j % every === 0 || j === last);
    datasets.push({ ...line(`local cost, bits/${unit} (right axis, windows of ~${compact(s.x[last] / options.rateWindows)} ${options.axis})`, rate, '#b5485d', [], at), borderWidth: 1, yAxisID: 'rate' });
  }
  return renderChart(
    {
      type: 'line',
      data: { datasets },
      options: {
        layout: { padding: { top: 4, right: 20, left: 4, bottom: 4 } },
        plugins: {
          title: { display: true, text: figure.title ?? 'Where in the text the model pays: cumulative bits', font: { size: 16, weight: 'bold' } },
          subtitle: { display: true, text: `${int(doc.tokenList.length)} tokens, ${int(s.totalBytes)} bytes; steep stretches are text the model finds surprising`, padding: { bottom: 6 } },
          legend: { position: 'top', align: 'start', labels: { boxHeight: 2 } },
        },
        scales: {
          x: { type: 'linear', min: 0, max: s.x[s.x.length - 1] || 1, title: { display: true, text: `position in the text (${options.axis})` }, ticks: { callback: (v) => compact(Number(v)) } },
          y: { type: 'linear', min: 0, title: { display: true, text: 'cumulative bits (Σ −log₂ p)' }, ticks: { callback: (v) => compact(Number(v)) } },
          rate: { display: options.rateWindows > 0, position: 'right', type: 'linear', min: 0, grid: { drawOnChartArea: false }, title: { display: true, text: `bits per ${unit}`, color: '#b5485d' }, ticks: { color: '#b5485d' } },
        },
      },
    },
    figure,
  );
}

// ---- plotBench ----

/** One row of a bench file: a compressor run on a file. */
export interface BenchEntry {
  /** The compressor, e.g. "gzip -9" or "llmc exact llmc-base". */
  name: string;
  /** The input file it compressed. */
  file: string;
  /** Size of the compressed output in bytes. */
  bytes: number;
  /** 8 × compressed bytes / original bytes. */
  bitsPerByte: number;
}

export function asBench(json: unknown): BenchEntry[] {
  const rows = Array.isArray(json) ? json : undefined;
  if (!rows) throw new UserError('a bench file is a JSON array of {name, file, bytes, bitsPerByte}');
  if (rows.length === 0) throw new UserError('the bench file has no entries');
  rows.forEach((r, i) => {
    const ok = typeof r === 'object' && r !== null && typeof r.name === 'string' && typeof r.file === 'string' &&
      Number.isSafeInteger(r.bytes) && r.bytes >= 0 && typeof r.bitsPerByte === 'number' && Number.isFinite(r.bitsPerByte) && r.bitsPerByte >= 0;
    if (!ok) throw new UserError(`bench entry ${i} must be {name: string, file: string, bytes: integer ≥ 0, bitsPerByte: number ≥ 0}`);
  });
  return rows as BenchEntry[];
}

/** A label as lines of about `width` characters, cut at spaces (chart.js draws an array as lines). */
function wrap(label: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of label.split(' ')) {
    if (lines.length && lines[lines.length - 1].length + 1 + word.length <= width) lines[lines.length - 1] += ' ' + word;
    else lines.push(word);
  }
  return lines;
}

export function plotBench(entries: BenchEntry[], figure: FigureOptions): Uint8Array {
  const names = [...new Set(entries.map((e) => e.name))];
  const files = [...new Set(entries.map((e) => e.file))];
  const grid = files.map((file) => names.map((name) => entries.find((e) => e.name === name && e.file === file)));
  const datasets = files.map((file, d) => ({
    label: file,
    data: grid[d].map((e) => e?.bitsPerByte ?? null),
    backgroundColor: COLOURS[d % COLOURS.length],
    borderWidth: 0,
  }));
  const barLabel = (d: number, i: number) => {
    const e = grid[d][i];
    return e ? `${e.bitsPerByte.toFixed(3)}${files.length === 1 ? ` (${int(e.bytes)} B)` : ''}` : '';
  };
  return renderChart(
    {
      type: 'bar',
      data: { labels: names.map((name) => wrap(name, 16)), datasets },
      options: {
        layout: { padding: { top: 4, right: 16, left: 4, bottom: 4 } },
        plugins: {
          title: { display: true, text: figure.title ?? 'Bits per byte by compressor (lower is better)', font: { size: 16, weight: 'bold' } },
          subtitle: { display: files.length === 1, text: files.length === 1 ? `on ${files[0]}` : '', padding: { bottom: 8 } },
          legend: { display: files.length > 1 },
          barLabels: { label: barLabel },
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0 } },
          y: { beginAtZero: true, grace: '8%', title: { display: true, text: 'bits per byte of the original' } },
        },
      },
    },
    figure,
  );
}
