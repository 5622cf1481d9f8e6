import type { Vec3 } from '../volume.js';

/**
 * Implicit solids in world mm. `level(x, y, z)` is ≤ 1 inside and grows smoothly outward (a
 * squared normalised distance), so a painter can wobble surfaces by comparing against 1 + noise.
 */
export interface Shape {
  min: Vec3;
  max: Vec3;
  level(x: number, y: number, z: number): number;
}

/** Rotation matrix from angles (radians) about x, then y, then z. */
export function rotation(ax: number, ay: number, az: number): number[] {
  const [cx, sx, cy, sy, cz, sz] = [Math.cos(ax), Math.sin(ax), Math.cos(ay), Math.sin(ay), Math.cos(az), Math.sin(az)];
  // R = Rz · Ry · Rx, row-major 3×3
  return [
    cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
    sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
    -sy, cy * sx, cy * cx,
  ];
}

/** Ellipsoid with semi-axes `radii` (mm) along the columns of rotation `r`. */
export function ellipsoid(centre: Vec3, radii: Vec3, r: number[] = rotation(0, 0, 0)): Shape {
  const [c0, c1, c2] = centre;
  const [i0, i1, i2] = radii.map((v) => 1 / v) as Vec3;
  const extent = Math.max(...radii);
  return {
    min: [c0 - extent, c1 - extent, c2 - extent],
    max: [c0 + extent, c1 + extent, c2 + extent],
    level(x, y, z) {
      const dx = x - c0, dy = y - c1, dz = z - c2;
      // coordinates in the ellipsoid's frame: Rᵀ · d
      const u = (r[0]! * dx + r[3]! * dy + r[6]! * dz) * i0;
      const v = (r[1]! * dx + r[4]! * dy + r[7]! * dz) * i1;
      const w = (r[2]! * dx + r[5]! * dy + r[8]! * dz) * i2;
      return u * u + v * v + w * w;
    },
  };
}

/** A control point of a tube: position (mm) and radius (mm). */
export type TubePoint = [number, number, number, number];

/**
 * A tube of varying radius along a smooth curve through `points` (Catmull–Rom, 6 samples per
 * span). `flatten` squeezes the cross-section along world y (veins, the pancreas, the collapsed
 * oesophagus are wider than deep).
 */
export function tube(points: TubePoint[], flatten = 1): Shape {
  const samples = catmullRom(points, 6);
  const n = samples.length / 4;
  const min: Vec3 = [Infinity, Infinity, Infinity];
  const max: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (let s = 0; s < n; s++) {
    const r = samples[4 * s + 3]!;
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a]!, samples[4 * s + a]! - r);
      max[a] = Math.max(max[a]!, samples[4 * s + a]! + r);
    }
  }
  const yScale = 1 / flatten;
  return {
    min,
    max,
    level(x, y, z) {
      let best = Infinity;
      for (let s = 0; s < n - 1; s++) {
        const a = 4 * s, b = a + 4;
        const ax = samples[a]!, ay = samples[a + 1]!, az = samples[a + 2]!;
        const ex = samples[b]! - ax, ey = samples[b + 1]! - ay, ez = samples[b + 2]! - az;
        const px = x - ax, py = y - ay, pz = z - az;
        const len2 = ex * ex + ey * ey + ez * ez;
        let t = len2 > 0 ? (px * ex + py * ey + pz * ez) / len2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const dx = px - t * ex, dy = (py - t * ey) * yScale, dz = pz - t * ez;
        const radius = samples[a + 3]! + t * (samples[b + 3]! - samples[a + 3]!);
        const level = (dx * dx + dy * dy + dz * dz) / (radius * radius);
        if (level < best) best = level;
      }
      return best;
    },
  };
}

/** Catmull–Rom interpolation of (x, y, z, r) control points; returns a flat [x, y, z, r, …] array. */
function catmullRom(points: TubePoint[], perSpan: number): Float64Array {
  if (points.length < 2) return Float64Array.from(points.flat());
  const out: number[] = [];
  const at = (i: number): TubePoint => points[Math.min(points.length - 1, Math.max(0, i))]!;
  for (let i = 0; i < points.length - 1; i++) {
    const [p0, p1, p2, p3] = [at(i - 1), at(i), at(i + 1), at(i + 2)];
    for (let s = 0; s < perSpan; s++) {
      const t = s / perSpan;
      const t2 = t * t, t3 = t2 * t;
      for (let c = 0; c < 4; c++) {
        out.push(0.5 * (2 * p1[c]! + (-p0[c]! + p2[c]!) * t + (2 * p0[c]! - 5 * p1[c]! + 4 * p2[c]! - p3[c]!) * t2 + (-p0[c]! + 3 * p1[c]! - 3 * p2[c]! + p3[c]!) * t3));
      }
    }
  }
  out.push(...points[points.length - 1]!);
  return Float64Array.from(out);
}

/** Restricts `shape` to the side of a plane where normal · p ≥ offset. */
export function halfSpace(shape: Shape, normal: Vec3, offset: number): Shape {
  const [a, b, c] = normal;
  return {
    min: shape.min,
    max: shape.max,
    level(x, y, z) {
      return a * x + b * y + c * z >= offset ? shape.level(x, y, z) : Infinity;
    },
  };
}

/** An elliptic cylinder along z with semi-axes that depend on z; `box` bounds it. */
export function ellipticCylinder(centre: (z: number) => [number, number], radii: (z: number) => [number, number], zRange: [number, number], extent: number): Shape {
  const [z0, z1] = zRange;
  return {
    min: [-extent, -extent, z0],
    max: [extent, extent, z1],
    level(x, y, z) {
      if (z < z0 || z > z1) return Infinity;
      const [cx, cy] = centre(z);
      const [rx, ry] = radii(z);
      const u = (x - cx) / rx, v = (y - cy) / ry;
      return u * u + v * v;
    },
  };
}
