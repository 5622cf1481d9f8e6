import { describe, expect, it } from 'vitest';
import { resampleToShape, resampleToSpacing } from '../../src/data/resample.js';
import type { Affine, Vec3 } from '../../src/data/volume.js';
import { spacingOf } from '../../src/data/volume.js';

const affine: Affine = [[-0.8, 0, 0, 50], [0, 0.9, 0, -20], [0, 0, 3, 7], [0, 0, 0, 1]];
const dims: Vec3 = [17, 12, 9];

function world(a: Affine, p: number[]): number[] {
  return [0, 1, 2].map((r) => a[r]![0]! * p[0]! + a[r]![1]! * p[1]! + a[r]![2]! * p[2]! + a[r]![3]!);
}

/** Old voxel coordinate of a world point, inverting the (diagonal) affine above. */
function toOldVoxel(p: number[]): number[] {
  return [0, 1, 2].map((r) => (p[r]! - affine[r]![3]!) / affine[r]![r]!);
}

describe('resampling', () => {
  // A function linear in world coordinates: trilinear interpolation must reproduce it exactly
  // wherever no sample is clamped at the border.
  const f = (w: number[]): number => 3 + 0.5 * w[0]! - 0.25 * w[1]! + 0.125 * w[2]!;
  const image = new Float32Array(17 * 12 * 9);
  for (let k = 0; k < 9; k++) for (let j = 0; j < 12; j++) for (let i = 0; i < 17; i++) image[i + 17 * (j + 12 * k)] = f(world(affine, [i, j, k]));

  for (const target of [[31, 7, 20], [8, 25, 4]] as Vec3[]) {
    it(`trilinear to ${target.join('×')} is exact for a linear field and keeps the field of view`, () => {
      const out = resampleToShape({ dims, affine, data: image }, target, 'linear');
      expect(out.dims).toEqual(target);
      // corners of the field of view are preserved: old −½ ↔ new −½ on each axis
      const oldCorner = world(affine, [-0.5, -0.5, -0.5]);
      const newCorner = world(out.affine, [-0.5, -0.5, -0.5]);
      newCorner.forEach((v, a) => expect(v).toBeCloseTo(oldCorner[a]!, 9));
      let checked = 0;
      for (let k = 0; k < target[2]; k++) {
        for (let j = 0; j < target[1]; j++) {
          for (let i = 0; i < target[0]; i++) {
            const w = world(out.affine, [i, j, k]);
            const old = toOldVoxel(w);
            if (old.some((o, a) => o < 0 || o > dims[a]! - 1)) continue;
            expect(out.data[i + target[0] * (j + target[1] * k)]).toBeCloseTo(f(w), 3);
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(50);
    });
  }

  it('nearest picks the source voxel whose centre is nearest, and keeps label values', () => {
    const labels = new Uint8Array(17 * 12 * 9).map((_, n) => n % 251);
    const target: Vec3 = [40, 5, 13];
    const out = resampleToShape({ dims, affine, data: labels }, target, 'nearest');
    for (let k = 0; k < target[2]; k++) {
      for (let j = 0; j < target[1]; j++) {
        for (let i = 0; i < target[0]; i++) {
          const exact = toOldVoxel(world(out.affine, [i, j, k]));
          if (exact.some((o) => Math.abs(o - Math.floor(o) - 0.5) < 1e-9)) continue; // equidistant: either voxel is right
          const old = exact.map((o, a) => Math.min(dims[a]! - 1, Math.max(0, Math.floor(o + 0.5))));
          expect(out.data[i + target[0] * (j + target[1] * k)]).toBe(labels[old[0]! + 17 * (old[1]! + 12 * old[2]!)]);
        }
      }
    }
  });

  it('resamples to a voxel size', () => {
    const out = resampleToSpacing({ dims, affine, data: image }, [1.6, 1.8, 1.5], 'linear');
    expect(out.dims).toEqual([9, 6, 18]);
    spacingOf(out.affine).forEach((s, a) => expect(s).toBeCloseTo(((dims[a]! * spacingOf(affine)[a]!) / out.dims[a]!), 9));
  });

  it('refuses a non-positive size', () => {
    expect(() => resampleToShape({ dims, affine, data: image }, [0, 4, 4], 'linear')).toThrow(/sizes must be positive integers/);
  });
});
