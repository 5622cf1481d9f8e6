import { join } from 'node:path';
import { classesOf } from '../data/classes.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Evaluation } from './evaluate.js';

/** Writes metrics.csv (one row per case and class), metrics.json (everything) and metrics.md (the table). */
export function writeEvaluation(dir: string, evaluation: Evaluation): { csv: string; json: string; markdown: string } {
  const paths = { csv: join(dir, 'metrics.csv'), json: join(dir, 'metrics.json'), markdown: join(dir, 'metrics.md') };
  writeFileAtomic(paths.csv, evaluationCsv(evaluation));
  writeFileAtomic(paths.json, `${JSON.stringify(evaluation, null, 2)}\n`);
  writeFileAtomic(paths.markdown, evaluationMarkdown(evaluation));
  return paths;
}

const cell = (v: number | null, digits: number): string => (v === null ? '' : v.toFixed(digits));

function evaluationCsv(e: Evaluation): string {
  const lines = ['case,class,dice,asd_voxels,assd_mm,hd95_mm,pred_voxels,gt_voxels'];
  for (const c of e.cases) {
    for (const [key, m] of Object.entries(c.metrics)) {
      lines.push([c.id, key, cell(m.dice, 6), cell(m.asd, 6), cell(m.assdMm, 6), cell(m.hd95Mm, 6), m.predVoxels, m.gtVoxels].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Classes as rows, like the paper's tables transposed, then the All / Large / Small means. */
export function evaluationMarkdown(e: Evaluation): string {
  const lines = [
    `Evaluation of ${e.cases.length} case(s), ${e.dataset}${e.resize ? `, resized to ${e.resize.join('×')}` : ''}. ASD: upstream's one-sided medpy ASD in voxels (128 when one mask is empty); ASSD/HD95: symmetric, mm.`,
    '',
    '| class | Dice (%) | ASD (vox) | ASSD (mm) | HD95 (mm) |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const o of classesOf(e.dataset).slice(1)) {
    const m = e.summary.classes[o.key]!;
    lines.push(`| ${o.abbreviation} ${o.key.replace(/_/g, ' ')} | ${cell(100 * m.dice, 2)} | ${cell(m.asd, 2)} | ${cell(m.assdMm, 2)} | ${cell(m.hd95Mm, 2)} |`);
  }
  for (const [name, m] of Object.entries(e.summary.groups)) {
    lines.push(`| **${name}** | **${cell(100 * m.dice, 2)}** | **${cell(m.asd, 2)}** | ${cell(m.assdMm, 2)} | ${cell(m.hd95Mm, 2)} |`);
  }
  return `${lines.join('\n')}\n`;
}
