import type { Vec3 } from '../data/volume.js';

/**
 * Surface voxels as medpy defines them (`medpy.metric.binary.__surface_distances`): the mask XOR
 * its binary erosion with the 6-connected cross (scipy `generate_binary_structure(3, 1)`), where
 * voxels beyond the volume count as background — so a mask touching the volume edge has surface
 * there.
 */
export function surfaceVoxels(mask: Uint8Array, dims: Vec3): Uint8Array {
  const [nx, ny, nz] = dims;
  const sxy = nx * ny;
  const out = new Uint8Array(mask.length);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let i = nx * (y + ny * z);
      for (let x = 0; x < nx; x++, i++) {
        if (!mask[i]) continue;
        const interior =
          x > 0 && x < nx - 1 && y > 0 && y < ny - 1 && z > 0 && z < nz - 1 &&
          mask[i - 1] && mask[i + 1] && mask[i - nx] && mask[i + nx] && mask[i - sxy] && mask[i + sxy];
        if (!interior) out[i] = 1;
      }
    }
  }
  return out;
}
