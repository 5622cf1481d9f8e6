import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/data/volume.js';
import { squaredDistanceTransform } from '../../src/eval/edt.js';
import { surfaceVoxels } from '../../src/eval/surface.js';
import { Rng } from '../../src/util/random.js';

function randomMask(dims: Vec3, density: number, rng: Rng): Uint8Array {
  return new Uint8Array(dims[0] * dims[1] * dims[2]).map(() => (rng.uniform() < density ? 1 : 0));
}

function bruteForceSquared(features: Uint8Array, dims: Vec3, spacing: Vec3): Float64Array {
  const [nx, ny] = dims;
  const coords = (i: number): Vec3 => [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
  const out = new Float64Array(features.length).fill(Infinity);
  for (let i = 0; i < features.length; i++) {
    const a = coords(i);
    for (let j = 0; j < features.length; j++) {
      if (!features[j]) continue;
      const b = coords(j);
      const d = ((a[0] - b[0]) * spacing[0]) ** 2 + ((a[1] - b[1]) * spacing[1]) ** 2 + ((a[2] - b[2]) * spacing[2]) ** 2;
      if (d < out[i]!) out[i] = d;
    }
  }
  return out;
}

describe('exact Euclidean distance transform', () => {
  const rng = new Rng(11);
  const shapes: [Vec3, Vec3, number][] = [
    [[9, 7, 5], [1, 1, 1], 0.05],
    [[6, 11, 8], [0.7, 1.3, 2.5], 0.03],
    [[13, 4, 6], [2, 0.5, 1], 0.2],
    [[1, 9, 7], [1, 1, 3], 0.1],
  ];
  for (const [dims, spacing, density] of shapes) {
    it(`matches brute force on a random ${dims.join('×')} mask, spacing ${spacing.join('/')}`, () => {
      const features = randomMask(dims, density, rng);
      features[rng.int(features.length)] = 1;
      const fast = squaredDistanceTransform(features, dims, spacing);
      const slow = bruteForceSquared(features, dims, spacing);
      for (let i = 0; i < fast.length; i++) expect(fast[i]).toBeCloseTo(slow[i]!, 9);
    });
  }

  it('is +Infinity everywhere without features', () => {
    expect(Array.from(squaredDistanceTransform(new Uint8Array(8), [2, 2, 2]))).toEqual(new Array(8).fill(Infinity));
  });
});

describe('surface voxels (medpy: mask XOR 6-connected erosion, outside = background)', () => {
  it('matches the definition on random masks', () => {
    const rng = new Rng(5);
    const dims: Vec3 = [7, 6, 5];
    const mask = randomMask(dims, 0.7, rng);
    const surface = surfaceVoxels(mask, dims);
    const at = (x: number, y: number, z: number): number => (x < 0 || y < 0 || z < 0 || x >= 7 || y >= 6 || z >= 5 ? 0 : mask[x + 7 * (y + 6 * z)]!);
    for (let z = 0; z < 5; z++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 7; x++) {
          const eroded = at(x, y, z) && at(x - 1, y, z) && at(x + 1, y, z) && at(x, y - 1, z) && at(x, y + 1, z) && at(x, y, z - 1) && at(x, y, z + 1);
          expect(surface[x + 7 * (y + 6 * z)]).toBe(at(x, y, z) && !eroded ? 1 : 0);
        }
      }
    }
  });
});
