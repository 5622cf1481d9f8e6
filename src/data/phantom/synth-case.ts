import { Rng } from '../../util/random.js';
import type { DatasetKind } from '../classes.js';
import { labelIdOf } from '../classes.js';
import type { CaseParameters } from './anatomy.js';
import { drawCaseParameters, paintAnatomy } from './anatomy.js';
import { Canvas } from './canvas.js';
import { gaussianBlur, valueNoise } from './fields.js';
import type { PhantomGrid } from './grid.js';
import { TISSUES } from './tissues.js';

/**
 * One synthetic abdominal CT: tissue map painted on the canonical grid (anatomy.ts), then CT
 * numbers with per-tissue texture and contrast strength, blurred for partial-volume effects,
 * plus quantum noise; labels taken from the tissue map before blurring (exact ground truth).
 * Everything is drawn from `new Rng(seed).fork(caseIndex)`: the same seed and index always give
 * the same case, whatever else is generated.
 */
export interface PhantomCase {
  /** CT numbers (HU), canonical RAS+ order */
  image: Int16Array;
  /** class ids of `dataset` */
  label: Uint8Array;
  /** tissue ids (tissues.ts), finer than the labels */
  tissue: Uint8Array;
  parameters: CaseParameters;
}

/** Warp: a smooth displacement field of ±WARP_MM that bends all organs together. */
const WARP_MM = 7;

export function synthesizeCase(grid: PhantomGrid, seed: number, caseIndex: number, dataset: DatasetKind): PhantomCase {
  const rng = new Rng(seed).fork(caseIndex);
  const parameters = drawCaseParameters(rng.fork(1));
  const field = (cellMm: number, stream: number): Float32Array => valueNoise(grid, cellMm, rng.fork(100 + stream));

  const canvas = warpedCanvas(grid, [field(110, 0), field(110, 1), field(110, 2)], field(40, 3));
  paintAnatomy(canvas, parameters, { bowel: field(30, 4), bowelGas: field(14, 5), colonGas: field(12, 6) });

  const image = ctNumbers(canvas.tissue, grid, rng.fork(2), field(5, 7), field(18, 8));
  const label = labelsOf(canvas.tissue, dataset);
  return { image, label, tissue: canvas.tissue, parameters };
}

function warpedCanvas(grid: PhantomGrid, warp: Float32Array[], wobble: Float32Array): Canvas {
  const [nx, ny, nz] = grid.dims;
  const n = nx * ny * nz;
  const wx = new Float32Array(n), wy = new Float32Array(n), wz = new Float32Array(n);
  const [dx, dy, dz] = warp as [Float32Array, Float32Array, Float32Array];
  let i = 0;
  for (let z = 0; z < nz; z++) {
    const pz = grid.origin[2] + z * grid.spacing[2];
    for (let y = 0; y < ny; y++) {
      const py = grid.origin[1] + y * grid.spacing[1];
      for (let x = 0; x < nx; x++, i++) {
        wx[i] = grid.origin[0] + x * grid.spacing[0] + WARP_MM * dx[i]!;
        wy[i] = py + WARP_MM * dy[i]!;
        wz[i] = pz + WARP_MM * dz[i]!;
      }
    }
  }
  return new Canvas(grid, wx, wy, wz, WARP_MM, wobble);
}

function ctNumbers(tissue: Uint8Array, grid: PhantomGrid, rng: Rng, fine: Float32Array, coarse: Float32Array): Int16Array {
  // Contrast timing varies between scans: enhancing tissues scale around soft-tissue 40 HU.
  const contrast = 0.85 + 0.3 * rng.uniform();
  const noiseSigma = 8 + 12 * rng.uniform();
  const base = TISSUES.map((t) => (t.enhancing ? 40 + (t.hu - 40) * contrast : t.hu));
  const hu = new Float32Array(tissue.length);
  for (let i = 0; i < tissue.length; i++) {
    const t = tissue[i]!;
    hu[i] = base[t]! + TISSUES[t]!.texture * (0.6 * fine[i]! + 0.4 * coarse[i]!);
  }
  // Partial volume + scanner PSF: about half a voxel in plane, a bit less across slices.
  gaussianBlur(hu, grid.dims, [0.6, 0.6, 0.45]);
  const out = new Int16Array(tissue.length);
  for (let i = 0; i < tissue.length; i++) {
    const v = Math.round(hu[i]! + noiseSigma * rng.normal());
    out[i] = v < -1024 ? -1024 : v > 3071 ? 3071 : v;
  }
  return out;
}

function labelsOf(tissue: Uint8Array, dataset: DatasetKind): Uint8Array {
  const table = new Uint8Array(256);
  TISSUES.forEach((t, id) => (table[id] = t.organ === null ? 0 : (labelIdOf(dataset, t.organ) ?? 0)));
  const out = new Uint8Array(tissue.length);
  for (let i = 0; i < tissue.length; i++) out[i] = table[tissue[i]!]!;
  return out;
}
