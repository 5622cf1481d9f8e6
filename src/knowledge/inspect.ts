import type { Embeddings } from './cache.js';
import { type ClassInfo, datasetClasses } from './datasets.js';
import { heatmapPng } from './heatmap.js';
import { type PairCheck, checkLeftRightPairs, cosineMatrix, halfBlock, nearestClasses } from './similarity.js';

export interface InspectReport {
  /** Human-readable: per half the C×C cosine matrix, nearest classes and the left/right check. */
  text: string;
  png: Buffer;
  pairs: PairCheck[];
}

const fmt = (v: number): string => v.toFixed(2).replace(/^0/, '').replace(/^-0/, '-');

function matrixTable(block: Float64Array, classes: readonly ClassInfo[]): string {
  const c = classes.length;
  const head = `${''.padEnd(5)}${classes.map((k) => k.abbreviation.padStart(5)).join('')}`;
  const lines = classes.map((row, i) => `${row.abbreviation.padEnd(5)}${classes.map((_, j) => fmt(block[i * c + j]!).padStart(5)).join('')}`);
  return [head, ...lines].join('\n');
}

/** The sanity report of `knowledge inspect` for one cache. */
export function inspectEmbeddings(embeddings: Embeddings): InspectReport {
  const { meta } = embeddings;
  const classes = datasetClasses(meta.dataset);
  const c = classes.length;
  const matrix = cosineMatrix(embeddings.rows, embeddings.count, embeddings.dim);
  const pairs = checkLeftRightPairs(matrix, classes);
  const lines: string[] = [
    `${meta.dataset} · encoder ${meta.encoder.id} · prompt ${meta.prompt} · [${embeddings.count}, ${embeddings.dim}]`,
    `encoder: ${meta.encoder.description}`,
  ];
  const norms = Array.from({ length: embeddings.count }, (_, i) => Math.hypot(...embeddings.rows.subarray(i * embeddings.dim, (i + 1) * embeddings.dim)));
  lines.push(`row L2 norms: min ${Math.min(...norms).toFixed(3)}, mean ${(norms.reduce((a, b) => a + b, 0) / norms.length).toFixed(3)}, max ${Math.max(...norms).toFixed(3)}`);
  const identical = meta.halves[0] === meta.halves[1];
  for (const half of identical ? [0] : [0, 1]) {
    const block = halfBlock(matrix, c, half);
    lines.push('', `cosine similarity, rows ${half * c}..${half * c + c - 1} (${meta.halves[half]} texts)${identical ? ', the second half repeats them' : ''}:`, matrixTable(block, classes));
    const nearest = nearestClasses(block, c);
    lines.push(`most similar other class: ${classes.map((k, i) => `${k.abbreviation}→${classes[nearest[i]!.nearest]!.abbreviation}`).join(' ')}`);
  }
  if (!identical) {
    const same = classes.map((k) => `${k.abbreviation} ${fmt(matrix[k.id * 2 * c + c + k.id]!)}`);
    lines.push('', `same class, ${meta.halves[0]} vs ${meta.halves[1]} row: ${same.join(', ')}`);
  }
  lines.push('', 'left/right pairs: is each the other\'s most similar row? (upstream TAK-Semi: yes only for the kidneys\' shape rows, docs/knowledge.md)');
  for (const p of pairs.filter((q) => !identical || q.half === 0)) {
    const verdict = p.mutualNearest ? 'mutual nearest: yes' : `mutual nearest: no (the left organ is the right one's #${p.rank} neighbour)`;
    lines.push(`  ${meta.halves[p.half]}: ${p.right.abbreviation}~${p.left.abbreviation} cosine ${p.cosine.toFixed(3)}, ${verdict}`);
  }
  const offDiagonal = matrix.filter((_, k) => Math.floor(k / (2 * c)) !== k % (2 * c));
  const low = Math.min(...offDiagonal);
  const png = heatmapPng(matrix, 2 * c, identical ? 0 : c, low, 1);
  lines.push('', `heat map: ${2 * c}×${2 * c} rows in label order, ${identical ? 'one text per class repeated' : `${meta.halves[0]} then ${meta.halves[1]}, split by a white line`}; colour from violet (cosine ${low.toFixed(2)}) to yellow (1.00)`);
  return { text: lines.join('\n'), png, pairs };
}
