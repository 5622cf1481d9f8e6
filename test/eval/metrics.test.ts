import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/data/npy.js';
import type { Vec3 } from '../../src/data/volume.js';
import { caseMetrics, EMPTY_MASK_ASD, percentile } from '../../src/eval/metrics.js';
import { Rng } from '../../src/util/random.js';

/** Brute-force reference: surfaces by definition, distances by exhaustive search. */
function bruteSurfaceDistances(from: Uint8Array, to: Uint8Array, dims: Vec3, spacing: Vec3): number[] {
  const [nx, ny, nz] = dims;
  const inside = (m: Uint8Array, x: number, y: number, z: number): boolean => x >= 0 && y >= 0 && z >= 0 && x < nx && y < ny && z < nz && m[x + nx * (y + ny * z)] === 1;
  const surface = (m: Uint8Array): Vec3[] => {
    const out: Vec3[] = [];
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      if (!inside(m, x, y, z)) continue;
      const eroded = inside(m, x - 1, y, z) && inside(m, x + 1, y, z) && inside(m, x, y - 1, z) && inside(m, x, y + 1, z) && inside(m, x, y, z - 1) && inside(m, x, y, z + 1);
      if (!eroded) out.push([x, y, z]);
    }
    return out;
  };
  const a = surface(from);
  const b = surface(to);
  return a.map((p) => Math.min(...b.map((q) => Math.hypot((p[0] - q[0]) * spacing[0], (p[1] - q[1]) * spacing[1], (p[2] - q[2]) * spacing[2]))));
}

/** Random blobs: a few random boxes per class on a small grid. */
function randomLabels(dims: Vec3, classes: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let c = 1; c < classes; c++) {
    for (let k = 0; k < 2; k++) {
      const lo = dims.map((n) => rng.int(n)) as Vec3;
      const hi = lo.map((v, a) => Math.min(dims[a]! - 1, v + 1 + rng.int(4))) as Vec3;
      for (let z = lo[2]; z <= hi[2]; z++) for (let y = lo[1]; y <= hi[1]; y++) for (let x = lo[0]; x <= hi[0]; x++) out[x + dims[0] * (y + dims[1] * z)] = c;
    }
  }
  return out;
}

describe('per-class metrics', () => {
  const dims: Vec3 = [12, 10, 8];
  const spacing: Vec3 = [0.8, 1.1, 2.5];
  const rng = new Rng(21);

  it('Dice, medpy ASD (voxels), ASSD and HD95 (mm) match brute force on random label maps', () => {
    for (let trial = 0; trial < 4; trial++) {
      const pred = randomLabels(dims, 4, rng);
      const gt = randomLabels(dims, 4, rng);
      const metrics = caseMetrics(pred, gt, dims, spacing, 4);
      for (let c = 1; c < 4; c++) {
        const p = pred.map((v) => (v === c ? 1 : 0));
        const g = gt.map((v) => (v === c ? 1 : 0));
        const np = p.reduce((a, b) => a + b, 0);
        const ng = g.reduce((a, b) => a + b, 0);
        const m = metrics[c]!;
        if (np === 0 || ng === 0) {
          expect(m.asd).toBe(np === ng ? 0 : EMPTY_MASK_ASD);
          continue;
        }
        const both = p.reduce((a, v, i) => a + (v && g[i] ? 1 : 0), 0);
        expect(m.dice).toBeCloseTo((2 * both) / (np + ng), 12);
        const pgVox = bruteSurfaceDistances(p, g, dims, [1, 1, 1]);
        expect(m.asd).toBeCloseTo(pgVox.reduce((a, b) => a + b, 0) / pgVox.length, 9);
        const pg = bruteSurfaceDistances(p, g, dims, spacing);
        const gp = bruteSurfaceDistances(g, p, dims, spacing);
        const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
        expect(m.assdMm).toBeCloseTo((mean(pg) + mean(gp)) / 2, 9);
        expect(m.hd95Mm).toBeCloseTo(percentile(Float64Array.from([...pg, ...gp]).sort(), 0.95), 9);
      }
    }
  });

  it('follows upstream rules for empty masks: 0/128 when one is empty, 1/0 when both are', () => {
    const gt = new Uint8Array(12 * 10 * 8);
    const pred = new Uint8Array(gt.length);
    gt[5] = 1;
    pred[7] = 2;
    const m = caseMetrics(pred, gt, dims, spacing, 4);
    expect([m[1]!.dice, m[1]!.asd, m[1]!.assdMm]).toEqual([0, 128, null]); // missed
    expect([m[2]!.dice, m[2]!.asd, m[2]!.hd95Mm]).toEqual([0, 128, null]); // hallucinated
    expect([m[3]!.dice, m[3]!.asd]).toEqual([1, 0]); // absent in both
  });

  it('gives Dice 1 and all distances 0 for identical maps', () => {
    const labels = randomLabels(dims, 4, rng);
    for (const m of caseMetrics(labels, labels, dims, spacing, 4).slice(1)) {
      if (m.gtVoxels === 0) continue;
      expect([m.dice, m.asd, m.assdMm, m.hd95Mm]).toEqual([1, 0, 0, 0]);
    }
  });

  // medpy itself is not packaged for Debian; its asd is a few lines of scipy, replicated here.
  const scipyMissing = spawnSync('/usr/bin/python3', ['-c', 'import scipy.ndimage, numpy'], { encoding: 'utf8' }).status === 0 ? null : 'scipy is absent (apt-get install python3-scipy)';
  it.skipIf(scipyMissing)('matches medpy.metric.binary.asd/assd/hd95 written with scipy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tak-medpy-'));
    const big: Vec3 = [20, 17, 9];
    const pred = randomLabels(big, 2, rng);
    const gt = randomLabels(big, 2, rng);
    pred[0] = 1; // touches the volume edge: surface there counts (erosion border value 0)
    gt[3] = 1;
    writeNpy(join(dir, 'p.npy'), [big[2], big[1], big[0]], pred);
    writeNpy(join(dir, 'g.npy'), [big[2], big[1], big[0]], gt);
    const script = `
import numpy as np, json, sys
from scipy.ndimage import binary_erosion, generate_binary_structure, distance_transform_edt
def sds(a, b, sampling):
    fp = generate_binary_structure(3, 1)
    ab = a ^ binary_erosion(a, structure=fp, iterations=1)
    bb = b ^ binary_erosion(b, structure=fp, iterations=1)
    return distance_transform_edt(~bb, sampling=sampling)[ab]
p = np.load(sys.argv[1]).transpose(2, 1, 0) == 1
g = np.load(sys.argv[2]).transpose(2, 1, 0) == 1
sp = [0.8, 1.1, 2.5]
a, b = sds(p, g, sp), sds(g, p, sp)
print(json.dumps({"asd": float(sds(p, g, None).mean()), "assd": float((a.mean() + b.mean()) / 2), "hd95": float(np.percentile(np.hstack((a, b)), 95))}))`;
    const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, join(dir, 'p.npy'), join(dir, 'g.npy')], { encoding: 'utf8' }));
    const m = caseMetrics(pred, gt, big, spacing, 2)[1]!;
    expect(m.asd).toBeCloseTo(ref.asd, 9);
    expect(m.assdMm).toBeCloseTo(ref.assd, 9);
    expect(m.hd95Mm).toBeCloseTo(ref.hd95, 9);
  });
});
