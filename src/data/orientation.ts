import type { Affine, Vec3, Volume, VoxelArray } from './volume.js';
import { multiplyAffine } from './volume.js';

/**
 * Voxel-axis permutations and flips between a file's stored order and canonical RAS+ order.
 *
 * Canonical order (what the network sees): voxel axis 0 runs towards the patient's Right, axis 1
 * towards Anterior, axis 2 towards Superior, with axis 0 fastest in memory — so a [D, H, W] tensor
 * view of the data is [S, A, R]. It is nibabel's `as_closest_canonical`: the affine becomes
 * (nearly) diagonal with positive spacing, whatever orientation the scanner stored (AMOS mixes
 * several; data-and-text.md §1).
 */
export interface AxisMap {
  /** for each output voxel axis, the input voxel axis it reads */
  from: Vec3;
  /** for each output voxel axis, whether it runs backwards along its input axis */
  flip: [boolean, boolean, boolean];
}

/** Orientation letters of the voxel axes, e.g. "LPS" for a typical DICOM-converted CT. */
export function axisCodes(affine: Affine): string {
  const map = worldAxisOfVoxelAxes(affine);
  return map.map(({ world, sign }) => (sign > 0 ? 'RAS' : 'LPI')[world]!).join('');
}

/**
 * For each voxel axis, the world axis it is most aligned with (nibabel `io_orientation`: take the
 * voxel axis's direction, pick the world axis of largest |component|, never pick a world axis twice).
 */
function worldAxisOfVoxelAxes(affine: Affine): { world: number; sign: number }[] {
  const columns = [0, 1, 2].map((c) => {
    const v = [0, 1, 2].map((r) => affine[r]![c]!);
    const norm = Math.hypot(...v) || 1;
    return v.map((x) => x / norm);
  });
  const used = new Set<number>();
  // Resolve the most decisive axes first so an oblique axis cannot steal another's world axis.
  const order = [0, 1, 2].sort((a, b) => Math.max(...columns[b]!.map(Math.abs)) - Math.max(...columns[a]!.map(Math.abs)));
  const result: { world: number; sign: number }[] = [];
  for (const c of order) {
    let best = -1;
    for (let w = 0; w < 3; w++) if (!used.has(w) && (best < 0 || Math.abs(columns[c]![w]!) > Math.abs(columns[c]![best]!))) best = w;
    used.add(best);
    result[c] = { world: best, sign: columns[c]![best]! < 0 ? -1 : 1 };
  }
  return result;
}

/** The axis map that brings a volume with `affine` into canonical RAS+ order. */
export function canonicalAxisMap(affine: Affine): AxisMap {
  const map = worldAxisOfVoxelAxes(affine);
  const from: Vec3 = [0, 0, 0];
  const flip: [boolean, boolean, boolean] = [false, false, false];
  map.forEach(({ world, sign }, voxelAxis) => {
    from[world] = voxelAxis;
    flip[world] = sign < 0;
  });
  return { from, flip };
}

/** The map that undoes `map` (output of `map` → its input). */
export function inverseAxisMap(map: AxisMap): AxisMap {
  const from: Vec3 = [0, 0, 0];
  const flip: [boolean, boolean, boolean] = [false, false, false];
  map.from.forEach((inputAxis, outputAxis) => {
    from[inputAxis] = outputAxis;
    flip[inputAxis] = map.flip[outputAxis]!;
  });
  return { from, flip };
}

/** Dims of the output of `map` applied to a grid of `dims`. */
export function mappedDims(dims: Vec3, map: AxisMap): Vec3 {
  return [dims[map.from[0]]!, dims[map.from[1]]!, dims[map.from[2]]!];
}

/**
 * Applies `map` to a volume: permutes/flips the voxels and adjusts the affine so every voxel keeps
 * its world position. Pass an `out` array of the same type to avoid an allocation.
 */
export function applyAxisMap<A extends VoxelArray>(volume: Volume<A>, map: AxisMap, out?: A): Volume<A> {
  const { dims, data } = volume;
  const inStride = [1, dims[0], dims[0] * dims[1]];
  const outDims = mappedDims(dims, map);
  // Walking the output in memory order, each output axis steps the input by ±stride of its source.
  const step = [0, 1, 2].map((a) => (map.flip[a] ? -1 : 1) * inStride[map.from[a]!]!);
  let base = 0;
  for (let a = 0; a < 3; a++) if (map.flip[a]) base += (outDims[a]! - 1) * inStride[map.from[a]!]!;
  const result = (out ?? new (data.constructor as new (n: number) => A)(data.length)) as A;
  const [nx, ny, nz] = outDims;
  const [sx, sy, sz] = step as Vec3;
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let i = base + z * sz + y * sy;
      for (let x = 0; x < nx; x++, i += sx) result[o++] = data[i]!;
    }
  }
  return { dims: outDims, affine: multiplyAffine(volume.affine, axisMapMatrix(dims, map)), data: result };
}

/** 4×4 matrix taking output voxel coordinates of `map` to input voxel coordinates. */
function axisMapMatrix(inDims: Vec3, map: AxisMap): Affine {
  const m: Affine = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  for (let out = 0; out < 3; out++) {
    const input = map.from[out]!;
    if (map.flip[out]) {
      m[input]![out] = -1;
      m[input]![3] = inDims[input]! - 1;
    } else {
      m[input]![out] = 1;
    }
  }
  return m;
}
