import type { Affine, Vec3 } from '../volume.js';

/**
 * The phantom's generation grid: canonical RAS+ voxel order (i → Right, j → Anterior, k →
 * Superior), world coordinates in mm with x = 0 on the midline, y = 0 mid-way front to back and
 * z = 0 near the L2 vertebra. Voxel centres: world = origin + index · spacing.
 */
export interface PhantomGrid {
  dims: Vec3;
  spacing: Vec3;
  origin: Vec3;
}

/** The default field of view: 380 × 380 mm in plane, 400 mm from the lower thorax to the pelvic floor. */
const DEFAULT_FOV: Vec3 = [380, 380, 400];
/** centre of the field of view in world mm (the FOV runs z ∈ [−210, 190]) */
const FOV_CENTRE: Vec3 = [0, 0, -10];

/** A grid of `dims` voxels; spacing defaults to the standard field of view divided by the size. */
export function phantomGrid(dims: Vec3, spacing?: Vec3): PhantomGrid {
  const s = spacing ?? (dims.map((n, a) => DEFAULT_FOV[a]! / n) as Vec3);
  const origin = dims.map((n, a) => FOV_CENTRE[a]! - ((n - 1) * s[a]!) / 2) as Vec3;
  return { dims, spacing: s, origin };
}

export function gridAffine(grid: PhantomGrid): Affine {
  const { spacing: s, origin: o } = grid;
  return [
    [s[0], 0, 0, o[0]],
    [0, s[1], 0, o[1]],
    [0, 0, s[2], o[2]],
    [0, 0, 0, 1],
  ];
}
