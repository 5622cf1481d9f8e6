import type { Vec3 } from '../data/volume.js';

/**
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012, "Distance Transforms of
 * Sampled Functions"): squared distance from every voxel to the nearest feature voxel, with
 * anisotropic voxel spacing, in O(n) by three 1-D lower-envelope passes. Same result as
 * scipy.ndimage.distance_transform_edt(~features, sampling=spacing)², which medpy's surface
 * distances use.
 *
 * Returns +Infinity everywhere when there is no feature voxel.
 */
export function squaredDistanceTransform(features: Uint8Array, dims: Vec3, spacing: Vec3 = [1, 1, 1]): Float64Array {
  const [nx, ny, nz] = dims;
  const out = new Float64Array(nx * ny * nz);
  // A large finite "infinity" keeps the parabola intersections free of inf − inf.
  const FAR = 1e30;
  let any = false;
  for (let i = 0; i < out.length; i++) {
    if (features[i]) {
      out[i] = 0;
      any = true;
    } else {
      out[i] = FAR;
    }
  }
  if (!any) return out.fill(Infinity);
  const longest = Math.max(nx, ny, nz);
  const line = new Float64Array(longest);
  const result = new Float64Array(longest);
  const v = new Int32Array(longest);
  const z = new Float64Array(longest + 1);
  // One pass per axis over every line of voxels along it: (line length, step along the line,
  // then the two axes that enumerate the lines as [count, step] pairs).
  const passes: [number, number, [number, number], [number, number]][] = [
    [nx, 1, [ny, nx], [nz, nx * ny]],
    [ny, nx, [nx, 1], [nz, nx * ny]],
    [nz, nx * ny, [nx, 1], [ny, nx]],
  ];
  passes.forEach(([n, stride, [countA, strideA], [countB, strideB]], axis) => {
    const w = spacing[axis]! * spacing[axis]!;
    for (let b = 0; b < countB; b++) {
      for (let a = 0; a < countA; a++) {
        const base = a * strideA + b * strideB;
        for (let i = 0; i < n; i++) line[i] = out[base + i * stride]!;
        lowerEnvelope(line, n, w, result, v, z);
        for (let i = 0; i < n; i++) out[base + i * stride] = result[i]!;
      }
    }
  });
  for (let i = 0; i < out.length; i++) if (out[i]! >= FAR) out[i] = Infinity;
  return out;
}

/** 1-D pass: d(p) = min_q w·(p − q)² + f(q), via the lower envelope of parabolas. */
function lowerEnvelope(f: Float64Array, n: number, w: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    for (;;) {
      const r = v[k]!;
      const s = (f[q]! + w * q * q - (f[r]! + w * r * r)) / (2 * w * (q - r));
      if (s <= z[k]!) {
        k--;
        continue;
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
      break;
    }
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const r = v[k]!;
    d[q] = w * (q - r) * (q - r) + f[r]!;
  }
}
