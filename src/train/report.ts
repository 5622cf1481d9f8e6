import { classesOf, type DatasetKind } from '../data/classes.js';
import type { PreparedCase } from '../data/preprocess.js';
import { spacingOf } from '../data/volume.js';
import type { CaseScore } from '../eval/network-inference.js';
import { renderSliceOverlay } from '../eval/render.js';
import { writeFileAtomic } from '../util/fs.js';
import type { TrainConfig } from './config.js';
import type { StepLosses } from './tak-step.js';
import type { ValidationRecord } from './trainer.js';

/**
 * runs/NAME/report.html: one self-contained file (inline SVG charts, PNG pictures as data URLs,
 * no script, no network) with the loss curves, validation Dice, per-class test Dice grouped into
 * the paper's large and small organs, and ground truth / prediction overlays of test cases.
 */
export interface ReportData {
  config: TrainConfig;
  dataset: DatasetKind;
  description: string;
  history: (StepLosses & { iteration: number; epoch: number })[];
  validations: ValidationRecord[];
  test: { cases: CaseScore[]; perClass: number[]; overall: number; split: string };
  pictures: { id: string; prepared: PreparedCase; labels: Uint8Array }[];
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** A line chart of several series over x, as inline SVG. */
function lineChart(title: string, series: { name: string; points: [number, number][] }[], options: { log?: boolean } = {}): string {
  const w = 640;
  const h = 240;
  const pad = { l: 56, r: 12, t: 28, b: 32 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!options.log || y > 0));
  if (all.length === 0) return `<figure><figcaption>${escape(title)}: no data</figcaption></figure>`;
  const ty = (y: number) => (options.log ? Math.log10(y) : y);
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => ty(p[1]))), Math.max(...all.map((p) => ty(p[1])))];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad.l + ((x - x0) / Math.max(x1 - x0, 1)) * (w - pad.l - pad.r);
  const sy = (y: number) => h - pad.b - ((ty(y) - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const ticks = [0, 0.5, 1].map((f) => y0 + f * (y1 - y0));
  const label = (v: number) => (options.log ? `1e${v.toFixed(1)}` : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const lines = series
    .map((s, i) => {
      const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!options.log || y > 0)).map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
      return pts.length ? `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${pts.join(' ')}"/>` : '';
    })
    .join('');
  const legend = series.map((s, i) => `<tspan fill="${COLORS[i % COLORS.length]}">■ ${escape(s.name)}</tspan>`).join('  ');
  return `<figure><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${escape(title)}">
<text x="${pad.l}" y="16" font-size="13" font-weight="bold">${escape(title)}</text><text x="${w - pad.r}" y="16" font-size="11" text-anchor="end">${legend}</text>
<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#888"/><line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#888"/>
${ticks.map((t) => `<text x="${pad.l - 4}" y="${(h - pad.b - ((t - y0) / (y1 - y0)) * (h - pad.t - pad.b) + 4).toFixed(1)}" font-size="10" text-anchor="end">${label(t)}</text>`).join('')}
<text x="${pad.l}" y="${h - 8}" font-size="10">${x0}</text><text x="${w - pad.r}" y="${h - 8}" font-size="10" text-anchor="end">${x1} iterations</text>
${lines}</svg></figure>`;
}

/** Horizontal bars of per-class Dice, organs sorted into the paper's large / small groups. */
function diceBars(dataset: DatasetKind, perClass: number[]): string {
  const classes = classesOf(dataset).slice(1);
  const rowH = 18;
  const w = 640;
  const groups: ['large' | 'small', string][] = [['large', 'Large organs'], ['small', 'Small organs']];
  let y = 10;
  const parts: string[] = [];
  for (const [group, title] of groups) {
    const members = classes.filter((c) => c.group === group);
    const mean = members.reduce((s, c) => s + perClass[c.id]!, 0) / Math.max(members.length, 1);
    parts.push(`<text x="0" y="${y + 12}" font-size="12" font-weight="bold">${title} (mean ${(100 * mean).toFixed(1)})</text>`);
    y += rowH;
    for (const c of members) {
      const v = Math.max(0, perClass[c.id] ?? 0);
      parts.push(`<text x="0" y="${y + 13}" font-size="11">${escape(`${c.abbreviation} ${c.name}`)}</text>`);
      parts.push(`<rect x="200" y="${y + 3}" width="${(380 * v).toFixed(1)}" height="${rowH - 6}" fill="${group === 'large' ? '#1f77b4' : '#ff7f0e'}"/>`);
      parts.push(`<text x="${205 + 380 * v}" y="${y + 13}" font-size="11">${(100 * v).toFixed(1)}</text>`);
      y += rowH;
    }
    y += 8;
  }
  return `<figure><svg viewBox="0 0 ${w} ${y}" width="${w}" height="${y}" role="img" aria-label="Dice per class">${parts.join('')}</svg></figure>`;
}

/** Voxel centroid of the labelled (non-zero) voxels, per axis; the volume's centre when empty. */
function labelCentroid(labels: Uint8Array, dims: readonly number[]): number[] {
  const [nx, ny] = [dims[0]!, dims[1]!];
  const sum = [0, 0, 0];
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    sum[0] += i % nx;
    sum[1] += Math.floor(i / nx) % ny;
    sum[2] += Math.floor(i / (nx * ny));
    count++;
  }
  return sum.map((v, a) => (count ? Math.round(v / count) : Math.floor(dims[a]! / 2)));
}

function overlays(dataset: DatasetKind, pictures: ReportData['pictures']): string {
  return pictures
    .map(({ id, prepared, labels }) => {
      const spacing = spacingOf(prepared.affine);
      // The same slice for ground truth and prediction: through the centroid of the true organs.
      const centre = labelCentroid(prepared.label!, prepared.dims);
      const normal = { axial: 2, coronal: 1 } as const;
      const picture = (l: Uint8Array | null, plane: 'axial' | 'coronal') =>
        `data:image/png;base64,${renderSliceOverlay(prepared.image, l, prepared.dims, spacing, { dataset, plane, index: centre[normal[plane]], window: [0, 1], size: 256, legend: false }).toString('base64')}`;
      const cells = (['axial', 'coronal'] as const)
        .map((plane) => `<td><img alt="${id} ${plane} ground truth" src="${picture(prepared.label, plane)}"></td><td><img alt="${id} ${plane} prediction" src="${picture(labels, plane)}"></td>`)
        .join('');
      return `<h3>${escape(id)}</h3><table class="pics"><tr><th>axial: ground truth</th><th>axial: prediction</th><th>coronal: ground truth</th><th>coronal: prediction</th></tr><tr>${cells}</tr></table>`;
    })
    .join('\n');
}

export function reportHtml(d: ReportData): string {
  const h = d.history;
  const series = (key: keyof StepLosses, name: string) => ({ name, points: h.map((r) => [r.iteration, r[key] as number] as [number, number]) });
  const classes = classesOf(d.dataset);
  const table = d.test.cases
    .map((c) => `<tr><td>${escape(c.id)}</td>${c.dice.slice(1).map((v) => `<td>${(100 * v).toFixed(1)}</td>`).join('')}<td><b>${((100 * c.dice.slice(1).reduce((a, b) => a + b, 0)) / (c.dice.length - 1)).toFixed(1)}</b></td></tr>`)
    .join('');
  const c = d.config;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TAK training report</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}figure{margin:12px 0}.pics img{width:256px;image-rendering:pixelated}code{background:#f3f3f3;padding:1px 4px}</style>
</head><body>
<h1>TAK training report</h1>
<p>${escape(d.description)}. Preset <code>${escape(c.preset)}</code>: ${c.patch}³ patches, ${c.nFilters} filters, ${c.labeledBatch}+${c.unlabeledBatch} batch, ${c.maxEpoch + 1} epochs, text head ${c.text ? `on (${escape(c.encoder)}, prompt ${escape(c.prompt)})` : 'off'}, contrastive loss ${c.contrast ? 'on' : 'off'}, seed ${c.seed}.</p>
<h2>Held-out ${escape(d.test.split)} Dice: ${(100 * d.test.overall).toFixed(2)} (mean over organs)</h2>
${diceBars(d.dataset, d.test.perClass)}
<table><tr><th>case</th>${classes.slice(1).map((k) => `<th>${escape(k.abbreviation)}</th>`).join('')}<th>mean</th></tr>${table}</table>
<h2>Training</h2>
${lineChart('Losses', [series('loss', 'total'), series('supervised', 'supervised'), series('location', 'location'), series('consistency', 'consistency'), series('contrast', 'contrast')], { log: true })}
${lineChart('Weights and learning rate', [series('lambdaU', 'λu'), series('lambdaC', 'λc'), series('lr', 'lr')])}
${lineChart('Validation mean Dice', [{ name: 'validation', points: d.validations.map((v) => [v.iteration, v.meanDice] as [number, number]) }])}
<h2>Test cases: ground truth and prediction</h2>
${overlays(d.dataset, d.pictures)}
<p>Generated by tak-wgpu on ${new Date().toISOString().slice(0, 16).replace('T', ' ')}.</p>
</body></html>
`;
}

export function writeReport(path: string, data: ReportData): string {
  writeFileAtomic(path, reportHtml(data));
  return path;
}
