import type { Rng } from '../../util/random.js';
import type { PhantomGrid } from './grid.js';

/**
 * Smooth random fields on the phantom grid: value noise (random values on a coarse lattice,
 * interpolated with a smoothstep), used for organ-surface irregularity, tissue texture, bowel
 * loops and the global deformation; and a separable Gaussian blur for partial-volume effects.
 */

interface AxisSamples {
  cell: Int32Array;
  weight: Float32Array;
  cells: number;
}

function axisSamples(size: number, spacing: number, cellMm: number): AxisSamples {
  const cell = new Int32Array(size);
  const weight = new Float32Array(size);
  const step = spacing / cellMm;
  for (let i = 0; i < size; i++) {
    const t = i * step;
    const c = Math.floor(t);
    const f = t - c;
    cell[i] = c;
    weight[i] = f * f * (3 - 2 * f);
  }
  return { cell, weight, cells: Math.floor((size - 1) * step) + 2 };
}

/** Value noise in [−1, 1] with features about `cellMm` across. */
export function valueNoise(grid: PhantomGrid, cellMm: number, rng: Rng): Float32Array {
  const [nx, ny, nz] = grid.dims;
  const ax = axisSamples(nx, grid.spacing[0], cellMm);
  const ay = axisSamples(ny, grid.spacing[1], cellMm);
  const az = axisSamples(nz, grid.spacing[2], cellMm);
  const lx = ax.cells, ly = ay.cells;
  const lattice = new Float32Array(lx * ly * az.cells);
  for (let i = 0; i < lattice.length; i++) lattice[i] = 2 * rng.uniform() - 1;
  const out = new Float32Array(nx * ny * nz);
  let o = 0;
  for (let z = 0; z < nz; z++) {
    const cz = az.cell[z]!, wz = az.weight[z]!;
    for (let y = 0; y < ny; y++) {
      const cy = ay.cell[y]!, wy = ay.weight[y]!;
      const b00 = (cz * ly + cy) * lx, b01 = (cz * ly + cy + 1) * lx;
      const b10 = ((cz + 1) * ly + cy) * lx, b11 = ((cz + 1) * ly + cy + 1) * lx;
      for (let x = 0; x < nx; x++) {
        const cx = ax.cell[x]!, wx = ax.weight[x]!;
        const v00 = lattice[b00 + cx]! + wx * (lattice[b00 + cx + 1]! - lattice[b00 + cx]!);
        const v01 = lattice[b01 + cx]! + wx * (lattice[b01 + cx + 1]! - lattice[b01 + cx]!);
        const v10 = lattice[b10 + cx]! + wx * (lattice[b10 + cx + 1]! - lattice[b10 + cx]!);
        const v11 = lattice[b11 + cx]! + wx * (lattice[b11 + cx + 1]! - lattice[b11 + cx]!);
        const v0 = v00 + wy * (v01 - v00);
        const v1 = v10 + wy * (v11 - v10);
        out[o++] = v0 + wz * (v1 - v0);
      }
    }
  }
  return out;
}

/** In-place separable Gaussian blur; `sigma` per axis in voxels (0 skips that axis). */
export function gaussianBlur(data: Float32Array, dims: readonly number[], sigma: readonly number[]): void {
  const [nx, ny, nz] = dims as [number, number, number];
  const strides = [1, nx, nx * ny];
  const scratch = new Float32Array(Math.max(nx, ny, nz));
  for (let axis = 0; axis < 3; axis++) {
    const s = sigma[axis]!;
    if (!(s > 0)) continue;
    const radius = Math.max(1, Math.ceil(2.5 * s));
    const kernel = new Float32Array(2 * radius + 1);
    let total = 0;
    for (let k = -radius; k <= radius; k++) total += kernel[k + radius] = Math.exp((-k * k) / (2 * s * s));
    for (let k = 0; k < kernel.length; k++) kernel[k]! /= total;
    const n = dims[axis]!;
    const stride = strides[axis]!;
    const [ua, ub] = [0, 1, 2].filter((a) => a !== axis) as [number, number];
    for (let b = 0; b < dims[ub]!; b++) {
      for (let a = 0; a < dims[ua]!; a++) {
        const base = a * strides[ua]! + b * strides[ub]!;
        for (let i = 0; i < n; i++) {
          let acc = 0;
          for (let k = -radius; k <= radius; k++) {
            const j = Math.min(n - 1, Math.max(0, i + k)); // edge voxels repeat
            acc += kernel[k + radius]! * data[base + j * stride]!;
          }
          scratch[i] = acc;
        }
        for (let i = 0; i < n; i++) data[base + i * stride] = scratch[i]!;
      }
    }
  }
}
