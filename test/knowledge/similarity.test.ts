import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { loadEmbeddings } from '../../src/knowledge/cache.js';
import { datasetClasses } from '../../src/knowledge/datasets.js';
import { embedKnowledge } from '../../src/knowledge/embed.js';
import { inspectEmbeddings } from '../../src/knowledge/inspect.js';
import { checkLeftRightPairs, cosineMatrix } from '../../src/knowledge/similarity.js';

const UPSTREAM = join(import.meta.dirname, '../../../shared/reference/tak-semi/amos_embedding_shape_location.pth');

describe('cosine similarity and the left/right check', () => {
  it('computes cosines independent of row scale', () => {
    const rows = Float32Array.from([3, 0, 0, 1, 1, 1, 0, -2]);
    const m = cosineMatrix(rows, 4, 2);
    expect(m[0 * 4 + 1]).toBeCloseTo(0, 12);
    expect(m[0 * 4 + 2]).toBeCloseTo(Math.SQRT1_2, 7);
    expect(m[1 * 4 + 3]).toBeCloseTo(-1, 12);
  });

  it('finds mutual nearest pairs and ranks a partner that is not', () => {
    const classes = datasetClasses('synapse');
    const c = classes.length;
    // One-hot rows, then pull RK toward LK in the first half, and RAG toward the spleen in the second.
    const rows = new Float32Array(2 * c * 2 * c);
    for (let i = 0; i < 2 * c; i++) rows[i * 2 * c + i] = 1;
    rows[2 * 2 * c + 3] = 1; // RK (2) += LK direction
    rows[(c + 12) * 2 * c + (c + 1)] = 1; // RAG (12) in half 2 += spleen direction
    rows[(c + 12) * 2 * c + (c + 13)] = 0.5; // and a little of LAG
    const checks = checkLeftRightPairs(cosineMatrix(rows, 2 * c, 2 * c), classes);
    const find = (half: number, key: string) => checks.find((p) => p.half === half && p.right.key === key)!;
    expect(find(0, 'right_kidney').mutualNearest).toBe(true);
    expect(find(1, 'right_adrenal_gland')).toMatchObject({ mutualNearest: false, rank: 2 });
  });
});

describe.skipIf(!existsSync(UPSTREAM))('inspect on the upstream TAK-Semi embeddings', () => {
  it('reports the kidneys as mutual nearest shape rows, but not the adrenals or the position rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tak-inspect-'));
    await embedKnowledge({ dataset: 'amos', encoder: { kind: 'pth', path: UPSTREAM }, prompt: 'position+shape', outDir: dir });
    const report = inspectEmbeddings(loadEmbeddings('amos', 'pth-amos_embedding_shape_location', 'position+shape', { dir }));
    const summary = report.pairs.map((p) => `${p.half}:${p.right.abbreviation}~${p.left.abbreviation}:${p.cosine.toFixed(2)}:${p.mutualNearest}`);
    // method-spec §5: RK~LK 0.93 and RAG~LAG 0.84 among the shape rows.
    expect(summary).toEqual(['0:RK~LK:0.93:true', '0:RAG~LAG:0.84:false', '1:RK~LK:0.86:false', '1:RAG~LAG:0.89:false']);
    expect(report.text).toMatch(/row L2 norms: min 3\.67\d, mean 4\.78\d, max 5\.62\d/);
    const png = PNG.sync.read(report.png);
    expect([png.width, png.height]).toEqual([32 * 16, 32 * 16]);
  });
});
