import type { Rng } from '../util/random.js';
import type { Vec3 } from './volume.js';

/**
 * Upstream's `RandomCrop` (TAK/GA `dataloaders/dataset.py`, method-spec §2): when any axis is
 * ≤ P, every axis is first zero-padded by max((P − s)//2 + 3, 0) on both sides; then the crop
 * starts at randint(0, s − P) per axis (numpy: upper bound exclusive).
 */
export function cropPadding(dims: Vec3, patch: number): Vec3 {
  if (!dims.some((s) => s <= patch)) return [0, 0, 0];
  return dims.map((s) => Math.max(Math.floor((patch - s) / 2) + 3, 0)) as Vec3;
}

/** Draws the crop origin, in padded coordinates, for a volume of `dims`. */
export function drawCropOrigin(dims: Vec3, patch: number, rng: Rng): { origin: Vec3; padding: Vec3 } {
  const padding = cropPadding(dims, patch);
  const origin = dims.map((s, a) => {
    const room = s + 2 * padding[a]! - patch;
    return room > 0 ? rng.int(room) : 0;
  }) as Vec3;
  return { origin, padding };
}

/**
 * Copies the P³ crop at `origin` (padded coordinates) of `image` (and `label`, when given) into
 * `outImage`/`outLabel`; padding reads as 0 (upstream pads the normalised image with 0).
 */
export function copyCrop(
  image: Float32Array,
  label: Uint8Array | null,
  dims: Vec3,
  padding: Vec3,
  origin: Vec3,
  patch: number,
  outImage: Float32Array,
  outLabel: Uint8Array,
): void {
  const [nx, ny, nz] = dims;
  outImage.fill(0);
  outLabel.fill(0);
  let v = 0;
  for (let z = 0; z < patch; z++) {
    const iz = origin[2] + z - padding[2];
    for (let y = 0; y < patch; y++, v += patch) {
      const iy = origin[1] + y - padding[1];
      if (iz < 0 || iz >= nz || iy < 0 || iy >= ny) continue;
      const row = nx * (iy + ny * iz);
      // the run of x inside the volume, copied in one go
      const x0 = Math.max(0, padding[0] - origin[0]);
      const x1 = Math.min(patch, nx + padding[0] - origin[0]);
      if (x1 <= x0) continue;
      const from = row + origin[0] - padding[0];
      outImage.set(image.subarray(from + x0, from + x1), v + x0);
      if (label) outLabel.set(label.subarray(from + x0, from + x1), v + x0);
    }
  }
}
