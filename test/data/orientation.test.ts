import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { niftiToImage, readNifti } from '../../src/data/nifti-read.js';
import { applyAxisMap, axisCodes, canonicalAxisMap, inverseAxisMap } from '../../src/data/orientation.js';
import type { Affine, Vec3 } from '../../src/data/volume.js';
import { Rng } from '../../src/util/random.js';
import { missing, realFiles } from './fixtures.js';
import { nibabelMissingReason } from './nibabel.js';

function world(affine: Affine, [i, j, k]: Vec3): Vec3 {
  return [0, 1, 2].map((r) => affine[r]![0]! * i + affine[r]![1]! * j + affine[r]![2]! * k + affine[r]![3]!) as Vec3;
}

/** Every permutation × flip of the three axes, as affines with distinct spacings. */
function allOrientations(): Affine[] {
  const perms: Vec3[] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const out: Affine[] = [];
  for (const p of perms) {
    for (let signs = 0; signs < 8; signs++) {
      const a: Affine = [[0, 0, 0, 10], [0, 0, 0, -20], [0, 0, 0, 30], [0, 0, 0, 1]];
      p.forEach((worldAxis, voxelAxis) => (a[worldAxis]![voxelAxis] = (signs >> voxelAxis) & 1 ? -(voxelAxis + 1) : voxelAxis + 1));
      out.push(a);
    }
  }
  return out;
}

describe('canonical RAS+ orientation', () => {
  const dims: Vec3 = [5, 4, 3];
  const data = new Float32Array(60).map((_, i) => i);

  it('keeps every voxel at its world position and ends with a positive diagonal affine, for all 48 orientations', () => {
    for (const affine of allOrientations()) {
      const map = canonicalAxisMap(affine);
      const out = applyAxisMap({ dims, affine, data }, map);
      for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) expect(r === c ? out.affine[r]![c]! > 0 : out.affine[r]![c] === 0).toBe(true);
      expect(axisCodes(out.affine)).toBe('RAS');
      // voxel with value v sits at the same world point before and after
      const [ox, oy] = out.dims;
      for (let n = 0; n < out.data.length; n++) {
        const v = out.data[n]!;
        const before = world(affine, [v % 5, Math.floor(v / 5) % 4, Math.floor(v / 20)]);
        const after = world(out.affine, [n % ox, Math.floor(n / ox) % oy, Math.floor(n / (ox * oy))]);
        expect(after).toEqual(before);
      }
      const back = applyAxisMap(out, inverseAxisMap(map));
      expect(back.dims).toEqual(dims);
      expect(Array.from(back.data)).toEqual(Array.from(data));
      back.affine.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(affine[r]![c]!, 12)));
    }
  });

  it('names axis codes like nibabel (LPS for a DICOM-style CT)', () => {
    expect(axisCodes([[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]])).toBe('LPS');
    expect(axisCodes([[-2, 0, 0, 0], [0, 0, 3, 0], [0, 2, 0, 0], [0, 0, 0, 1]])).toBe('LSA');
  });

  it.skipIf(missing(realFiles.kmeansImage) || nibabelMissingReason)('matches nibabel as_closest_canonical on the ITK image (LSA stored)', () => {
    const image = niftiToImage(readNifti(realFiles.kmeansImage));
    const canonical = applyAxisMap(image, canonicalAxisMap(image.affine));
    const rng = new Rng(3);
    const indices = Array.from({ length: 30 }, () => canonical.dims.map((n) => rng.int(n)));
    const script = `
import json, sys, nibabel as nib, numpy as np
img = nib.as_closest_canonical(nib.load(sys.argv[1]))
d = img.get_fdata()
print(json.dumps({"shape": list(img.shape), "affine": img.affine.tolist(), "values": [float(d[tuple(i)]) for i in json.loads(sys.argv[2])]}))`;
    const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, realFiles.kmeansImage, JSON.stringify(indices)], { encoding: 'utf8' }));
    expect(canonical.dims).toEqual(ref.shape);
    canonical.affine.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(ref.affine[r][c], 4)));
    const [nx, ny] = canonical.dims;
    indices.forEach(([i, j, k], n) => expect(canonical.data[i! + nx * (j! + ny * k!)]).toBe(ref.values[n]));
  });
});
