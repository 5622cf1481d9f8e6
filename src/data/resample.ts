import { TakError, show } from '../util/errors.js';
import type { Affine, Vec3, Volume } from './volume.js';
import { multiplyAffine, spacingOf } from './volume.js';

/**
 * Resampling to a new grid size, as DHC's `preprocess_amos.py` resizes AMOS to (80,160,160)
 * (method-spec §2): trilinear for images exactly like PyTorch `F.interpolate(align_corners=False)`;
 * nearest for labels, taking the source voxel whose centre is nearest, floor((dst + ½)·in/out).
 * PyTorch's legacy 'nearest' uses floor(dst·in/out), which shifts labels by up to half a source
 * voxel against the image; the centred rule keeps labels where the affine says they are, which
 * matters when predictions are mapped back to the scanner grid.
 * The affine is updated so the output grid covers the same field of view.
 */
export type ResampleMode = 'linear' | 'nearest';

export function resampleToShape<V extends Volume<Float32Array> | Volume<Uint8Array>>(volume: V, dims: Vec3, mode: ResampleMode): V {
  if (dims.some((n) => !(Number.isInteger(n) && n >= 1))) throw new TakError(`cannot resample to ${show(dims)}: sizes must be positive integers`);
  const scale = volume.dims.map((n, a) => n / dims[a]!) as Vec3;
  const data = mode === 'linear' ? trilinear(volume.data, volume.dims, dims) : nearest(volume.data, volume.dims, dims);
  return { dims, affine: multiplyAffine(volume.affine, scaleMatrix(scale)), data } as V;
}

/** Resamples to a target voxel size (mm); the output size is round(size · spacing / target). */
export function resampleToSpacing<V extends Volume<Float32Array> | Volume<Uint8Array>>(volume: V, spacing: Vec3, mode: ResampleMode): V {
  if (spacing.some((s) => !(s > 0))) throw new TakError(`cannot resample to spacing ${show(spacing)} mm: every value must be > 0`);
  const current = spacingOf(volume.affine);
  const dims = volume.dims.map((n, a) => Math.max(1, Math.round((n * current[a]!) / spacing[a]!))) as Vec3;
  return resampleToShape(volume, dims, mode);
}

/** New voxel → old voxel for align_corners=False: old = scale·(new + ½) − ½. */
function scaleMatrix(scale: Vec3): Affine {
  return [
    [scale[0], 0, 0, (scale[0] - 1) / 2],
    [0, scale[1], 0, (scale[1] - 1) / 2],
    [0, 0, scale[2], (scale[2] - 1) / 2],
    [0, 0, 0, 1],
  ];
}

interface AxisTable {
  lo: Int32Array;
  hi: Int32Array;
  weight: Float32Array;
}

/** PyTorch's linear source index: src = (dst + ½)·in/out − ½, clamped below at 0. */
function linearTable(inSize: number, outSize: number, stride: number): AxisTable {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const weight = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const src = Math.max(0, (d + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    lo[d] = i0 * stride;
    hi[d] = Math.min(i0 + 1, inSize - 1) * stride;
    weight[d] = src - i0;
  }
  return { lo, hi, weight };
}

function trilinear(data: Float32Array | Uint8Array, inDims: Vec3, outDims: Vec3): Float32Array {
  const [nx, ny] = inDims;
  const tx = linearTable(inDims[0], outDims[0], 1);
  const ty = linearTable(inDims[1], outDims[1], nx);
  const tz = linearTable(inDims[2], outDims[2], nx * ny);
  const out = new Float32Array(outDims[0] * outDims[1] * outDims[2]);
  let o = 0;
  for (let z = 0; z < outDims[2]; z++) {
    const z0 = tz.lo[z]!, z1 = tz.hi[z]!, wz = tz.weight[z]!;
    for (let y = 0; y < outDims[1]; y++) {
      const y0 = ty.lo[y]!, y1 = ty.hi[y]!, wy = ty.weight[y]!;
      const r00 = z0 + y0, r01 = z0 + y1, r10 = z1 + y0, r11 = z1 + y1;
      for (let x = 0; x < outDims[0]; x++) {
        const x0 = tx.lo[x]!, x1 = tx.hi[x]!, wx = tx.weight[x]!;
        const c00 = data[r00 + x0]! + wx * (data[r00 + x1]! - data[r00 + x0]!);
        const c01 = data[r01 + x0]! + wx * (data[r01 + x1]! - data[r01 + x0]!);
        const c10 = data[r10 + x0]! + wx * (data[r10 + x1]! - data[r10 + x0]!);
        const c11 = data[r11 + x0]! + wx * (data[r11 + x1]! - data[r11 + x0]!);
        const c0 = c00 + wy * (c01 - c00);
        const c1 = c10 + wy * (c11 - c10);
        out[o++] = c0 + wz * (c1 - c0);
      }
    }
  }
  return out;
}

/** Centre-aligned nearest: src = min(floor((dst + ½)·in/out), in − 1). */
function nearestTable(inSize: number, outSize: number, stride: number): Int32Array {
  const table = new Int32Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) table[d] = Math.min(Math.floor((d + 0.5) * scale), inSize - 1) * stride;
  return table;
}

function nearest<A extends Float32Array | Uint8Array>(data: A, inDims: Vec3, outDims: Vec3): A {
  const tx = nearestTable(inDims[0], outDims[0], 1);
  const ty = nearestTable(inDims[1], outDims[1], inDims[0]);
  const tz = nearestTable(inDims[2], outDims[2], inDims[0] * inDims[1]);
  const out = new (data.constructor as new (n: number) => A)(outDims[0] * outDims[1] * outDims[2]);
  let o = 0;
  for (let z = 0; z < outDims[2]; z++) {
    for (let y = 0; y < outDims[1]; y++) {
      const row = tz[z]! + ty[y]!;
      for (let x = 0; x < outDims[0]; x++) out[o++] = data[row + tx[x]!]!;
    }
  }
  return out;
}
