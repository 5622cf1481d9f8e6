import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classesOf } from '../../src/data/classes.js';
import { niftiToLabels, readNifti } from '../../src/data/nifti-read.js';
import { phantomGrid } from '../../src/data/phantom/grid.js';
import { synthesizeCase } from '../../src/data/phantom/synth-case.js';
import { classShareRows, writePhantomDataset } from '../../src/data/phantom/write-dataset.js';
import type { Vec3 } from '../../src/data/volume.js';
import { nibabelMissingReason, nibabelView } from './nibabel.js';
import { smallPhantom } from './phantom-fixture.js';

/** Centroid (world mm, RAS+) of a class in a phantom case generated on `grid`. */
function centroid(label: Uint8Array, id: number, dims: Vec3, spacing: Vec3, origin: Vec3): Vec3 {
  const [nx, ny] = dims;
  let sx = 0, sy = 0, sz = 0, n = 0;
  for (let i = 0; i < label.length; i++) {
    if (label[i] !== id) continue;
    sx += i % nx;
    sy += Math.floor(i / nx) % ny;
    sz += Math.floor(i / (nx * ny));
    n++;
  }
  return [origin[0] + (sx / n) * spacing[0], origin[1] + (sy / n) * spacing[1], origin[2] + (sz / n) * spacing[2]];
}

describe('synthetic abdominal CT phantom', () => {
  const grid = phantomGrid([64, 64, 48]);

  it('is deterministic per seed and case, and differs between seeds', () => {
    const a = synthesizeCase(grid, 7, 2, 'amos');
    const b = synthesizeCase(grid, 7, 2, 'amos');
    const c = synthesizeCase(grid, 8, 2, 'amos');
    expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
    expect(Buffer.from(a.label.buffer).equals(Buffer.from(b.label.buffer))).toBe(true);
    expect(Buffer.from(a.label.buffer).equals(Buffer.from(c.label.buffer))).toBe(false);
  });

  it('has all 15 AMOS organs in plausible places, with AMOS-like class imbalance', () => {
    const counts = new Array(16).fill(0);
    for (let k = 0; k < 3; k++) {
      const { label } = synthesizeCase(grid, 1, k, 'amos');
      for (const v of label) counts[v]++;
      const at = (key: string): Vec3 => centroid(label, classesOf('amos').find((c) => c.key === key)!.id, grid.dims, grid.spacing, grid.origin);
      // RAS+: x > 0 is the patient's right, y > 0 anterior, z > 0 superior
      expect(at('liver')[0]).toBeGreaterThan(20);
      expect(at('spleen')[0]).toBeLessThan(-40);
      expect(at('spleen')[1]).toBeLessThan(at('stomach')[1]);
      expect(at('right_kidney')[2]).toBeLessThan(at('left_kidney')[2]);
      expect(at('right_adrenal_gland')[2]).toBeGreaterThan(at('right_kidney')[2]);
      expect(at('left_adrenal_gland')[2]).toBeGreaterThan(at('left_kidney')[2]);
      expect(at('aorta')[0]).toBeLessThan(at('inferior_vena_cava')[0]);
      expect(at('pancreas')[1]).toBeGreaterThan(at('aorta')[1]);
      expect(at('gallbladder')[1]).toBeGreaterThan(at('liver')[1]);
      expect(at('bladder')[2]).toBeLessThan(at('right_kidney')[2] - 100);
      expect(at('esophagus')[2]).toBeGreaterThan(at('stomach')[2]);
    }
    const rows = classShareRows(counts, 'amos');
    expect(rows.slice(1).every((r) => r.voxels > 0)).toBe(true);
    const share = (key: string): number => rows.find((r) => r.key === key)!.ofOrgans;
    for (const small of ['right_adrenal_gland', 'left_adrenal_gland', 'esophagus', 'gallbladder', 'duodenum']) expect(share(small)).toBeLessThan(0.02);
    expect(share('liver')).toBeGreaterThan(0.3);
    expect(Math.max(...rows.slice(1).map((r) => r.ofOrgans))).toBe(share('liver'));
  });

  it('gives organs CT numbers that tell them apart (liver brighter than fat, kidney cortex brightest)', () => {
    const { image, label } = synthesizeCase(grid, 1, 0, 'amos');
    const meanOf = (id: number): number => {
      let s = 0, n = 0;
      for (let i = 0; i < label.length; i++) if (label[i] === id) (s += image[i]!), n++;
      return s / n;
    };
    expect(meanOf(6)).toBeGreaterThan(60); // liver
    expect(meanOf(4)).toBeLessThan(meanOf(6) - 40); // bile darker than liver
    expect(meanOf(8)).toBeGreaterThan(meanOf(6)); // enhanced aorta brighter than liver
  });

  it('labels the portal/splenic veins and no pelvic organs in the Synapse layout', () => {
    const { label } = synthesizeCase(grid, 1, 0, 'synapse');
    const present = new Set(label);
    expect(present.has(10)).toBe(true);
    expect(Math.max(...present)).toBe(13);
  });

  it('writes an AMOS folder whose NIfTI files nibabel reads with the same shape and affine', () => {
    const dir = smallPhantom('amos', 2);
    const json = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
    expect(json.labels['8']).toBe('arota');
    expect(json.training).toHaveLength(2);
    const file = join(dir, 'labelsTr', 'amos_0002.nii.gz');
    const ours = readNifti(file);
    expect(ours.datatype).toBe('uint8');
    expect(ours.affine[0]![0]).toBeLessThan(0); // stored LPS, like DICOM-converted CT
    if (!nibabelMissingReason) {
      const ref = nibabelView(file, [[10, 20, 5]]);
      expect(ref.shape).toEqual(ours.shape);
      ref.affine.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(ours.affine[r]![c]!, 4)));
      expect(ref.values[0]).toBe(niftiToLabels(ours).data[10 + 48 * (20 + 48 * 5)]);
      expect(nibabelView(join(dir, 'imagesTr', 'amos_0002.nii.gz'), []).dtype).toBe('int16');
    }
  });

  it('refuses to write into a non-empty folder without overwrite', () => {
    const dir = smallPhantom('amos', 2);
    expect(() => writePhantomDataset({ out: dir, cases: 1, validationCases: 0, seed: 1, dims: [16, 16, 16], layout: 'amos', overwrite: false })).toThrow(/is not empty.*--force/);
  });
});
