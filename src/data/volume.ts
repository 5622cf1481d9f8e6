/**
 * A 3-D volume on a voxel grid. Voxel (i, j, k) lives at `data[i + nx * (j + ny * k)]` — i varies
 * fastest, exactly the order NIfTI stores voxels on disk. `affine` maps (i, j, k, 1) to scanner
 * coordinates (x, y, z, 1) in millimetres, RAS+ as in NIfTI/nibabel: x grows towards the patient's
 * Right, y towards Anterior, z towards Superior.
 */
export type Vec3 = [number, number, number];

/** 4×4 row-major matrix as nested arrays (the way nibabel prints an affine). */
export type Affine = number[][];

export type VoxelArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

export interface Volume<A extends VoxelArray = VoxelArray> {
  dims: Vec3;
  affine: Affine;
  data: A;
}

export function voxelCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Voxel size along i, j, k in mm: the lengths of the affine's first three columns. */
export function spacingOf(affine: Affine): Vec3 {
  const column = (c: number): number => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!);
  return [column(0), column(1), column(2)];
}

export function identityAffine(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

export function multiplyAffine(a: Affine, b: Affine): Affine {
  const out = identityAffine();
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r]![k]! * b[k]![c]!;
      out[r]![c] = s;
    }
  }
  return out;
}

/** Largest absolute difference between two affines (for "same grid" checks). */
export function affineDistance(a: Affine, b: Affine): number {
  let d = 0;
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) d = Math.max(d, Math.abs(a[r]![c]! - b[r]![c]!));
  return d;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function formatDims(dims: readonly number[]): string {
  return dims.join('×');
}
