import type { Vec3 } from '../data/volume.js';
import { TakError, show } from '../util/errors.js';

/**
 * Sliding-window inference as upstream's `test_single_case_fast` (TAK `utils/test_amos.py`,
 * method-spec §2): zero-pad each axis to at least P (centred), windows start at
 * min(stride·i, size − P) so the last one touches the far edge, softmax probabilities summed
 * and divided by the per-voxel visit count, argmax, padding cropped off. Windows go to the model
 * `batch` at a time (upstream: 16). Optionally each visit is weighted by a Gaussian centred in
 * the window (σ = P/8, as nnU-Net), which de-emphasises the less reliable window borders.
 *
 * Arrays use the volume layout (x fastest): a window batch is [n, 1, P, P, P] and the model's
 * answer [n, C, P, P, P], both with the last axis x.
 */
export type PredictWindows = (windows: Float32Array, n: number) => Promise<Float32Array>;

export interface SlidingWindowOptions {
  /** window edge P (TAK: 96) */
  patch: number;
  /** window step per axis (x, y, z); upstream's test: (32, 32, 16), training-time validation (90, 90, 80) */
  strides: Vec3;
  /** windows per model call */
  batch: number;
  gaussian: boolean;
}

export const DEFAULT_SLIDING_WINDOW: SlidingWindowOptions = { patch: 96, strides: [32, 32, 16], batch: 16, gaussian: false };

/** Window start positions along one axis of padded length `size` (upstream's formula). */
function windowStarts(size: number, patch: number, stride: number): number[] {
  const count = Math.ceil((size - patch) / stride) + 1;
  return Array.from({ length: count }, (_, i) => Math.min(stride * i, size - patch));
}

/** Returns the label map (argmax of the averaged probabilities) on the input grid. */
export async function slidingWindowLabels(image: Float32Array, dims: Vec3, classCount: number, predict: PredictWindows, options: SlidingWindowOptions = DEFAULT_SLIDING_WINDOW): Promise<Uint8Array> {
  const { patch: P, strides, batch } = options;
  if (image.length !== dims[0] * dims[1] * dims[2]) throw new TakError(`sliding window: image has ${image.length} voxels, grid ${show(dims)} needs ${dims[0] * dims[1] * dims[2]}`);
  if (!(classCount >= 2 && classCount <= 256)) throw new TakError(`sliding window: class count ${classCount} must be in 2..256`);
  if (strides.some((s) => !(Number.isInteger(s) && s >= 1)) || !(Number.isInteger(batch) && batch >= 1)) {
    throw new TakError(`sliding window: strides ${show(strides)} and batch ${batch} must be positive integers`);
  }
  // Centred zero padding up to P (upstream pads w_pad//2 before, the rest after).
  const padBefore = dims.map((n) => Math.max(0, P - n) >> 1) as Vec3;
  const padded = dims.map((n) => Math.max(n, P)) as Vec3;
  const [px, py] = padded;
  const starts = [0, 1, 2].map((a) => windowStarts(padded[a]!, P, strides[a]!));
  const windows: Vec3[] = [];
  for (const x of starts[0]!) for (const y of starts[1]!) for (const z of starts[2]!) windows.push([x, y, z]);

  const voxels = P * P * P;
  const weights = options.gaussian ? gaussianWeights(P) : null;
  // One score array per class keeps each typed array well under V8's size limit on big volumes.
  const paddedCount = padded[0] * padded[1] * padded[2];
  const scores = Array.from({ length: classCount }, () => new Float32Array(paddedCount));
  const visits = new Float32Array(paddedCount);
  const input = new Float32Array(batch * voxels);

  for (let first = 0; first < windows.length; first += batch) {
    const group = windows.slice(first, first + batch);
    input.fill(0);
    group.forEach((origin, w) => extractWindow(image, dims, padBefore, origin, P, input.subarray(w * voxels, (w + 1) * voxels)));
    const output = await predict(input.subarray(0, group.length * voxels), group.length);
    if (output.length !== group.length * classCount * voxels) {
      throw new TakError(`sliding window: the model returned ${output.length} values for ${group.length} windows, expected ${group.length}×${classCount}×${P}³ = ${group.length * classCount * voxels}`);
    }
    group.forEach((origin, w) => {
      for (let c = 0; c < classCount; c++) accumulate(scores[c]!, output, (w * classCount + c) * voxels, origin, padded, P, weights);
      accumulate(visits, null, 0, origin, padded, P, weights);
    });
  }

  // argmax of score/visits = argmax of score (visits > 0 everywhere); crop the padding.
  const labels = new Uint8Array(dims[0] * dims[1] * dims[2]);
  let o = 0;
  for (let z = 0; z < dims[2]; z++) {
    for (let y = 0; y < dims[1]; y++) {
      let i = padBefore[0] + px * (padBefore[1] + y + py * (padBefore[2] + z));
      for (let x = 0; x < dims[0]; x++, i++, o++) {
        let best = 0;
        let bestScore = scores[0]![i]!;
        for (let c = 1; c < classCount; c++) {
          const s = scores[c]![i]!;
          if (s > bestScore) {
            bestScore = s;
            best = c;
          }
        }
        labels[o] = best;
      }
    }
  }
  return labels;
}

/**
 * Adds a window's values (or, with `values` null, its visit weights) into `target` at `origin`.
 * Kept branch-free in the inner loop: this is most of the host-side time of inference.
 */
function accumulate(target: Float32Array, values: Float32Array | null, offset: number, origin: Vec3, padded: Vec3, P: number, weights: Float32Array | null): void {
  const [px, py] = padded;
  let v = 0;
  for (let z = 0; z < P; z++) {
    for (let y = 0; y < P; y++, v += P) {
      const row = origin[0] + px * (origin[1] + y + py * (origin[2] + z));
      if (values && weights) for (let x = 0; x < P; x++) target[row + x]! += weights[v + x]! * values[offset + v + x]!;
      else if (values) for (let x = 0; x < P; x++) target[row + x]! += values[offset + v + x]!;
      else if (weights) for (let x = 0; x < P; x++) target[row + x]! += weights[v + x]!;
      else for (let x = 0; x < P; x++) target[row + x]! += 1;
    }
  }
}

/** Copies the P³ window at `origin` (padded coordinates) into `out`; padding reads as 0. */
function extractWindow(image: Float32Array, dims: Vec3, padBefore: Vec3, origin: Vec3, P: number, out: Float32Array): void {
  const [nx, ny, nz] = dims;
  let v = 0;
  for (let z = 0; z < P; z++) {
    const iz = origin[2] + z - padBefore[2];
    for (let y = 0; y < P; y++) {
      const iy = origin[1] + y - padBefore[1];
      if (iz < 0 || iz >= nz || iy < 0 || iy >= ny) {
        v += P;
        continue;
      }
      const row = nx * (iy + ny * iz);
      for (let x = 0; x < P; x++, v++) {
        const ix = origin[0] + x - padBefore[0];
        if (ix >= 0 && ix < nx) out[v] = image[row + ix]!;
      }
    }
  }
}

/** exp(−d²/2σ²) over the window with σ = P/8 per axis, floored so no voxel gets zero weight. */
function gaussianWeights(P: number): Float32Array {
  const sigma = P / 8;
  const centre = (P - 1) / 2;
  const axis = Float32Array.from({ length: P }, (_, i) => Math.exp(-((i - centre) ** 2) / (2 * sigma * sigma)));
  const out = new Float32Array(P * P * P);
  let v = 0;
  for (let z = 0; z < P; z++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++, v++) out[v] = Math.max(1e-3, axis[x]! * axis[y]! * axis[z]!);
  return out;
}
