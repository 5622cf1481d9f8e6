import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/data/volume.js';
import { slidingWindowLabels } from '../../src/eval/sliding-window.js';
import { Rng } from '../../src/util/random.js';

const C = 4;

/** Softmax probabilities that depend on each voxel's value and on the window as a whole (its mean). */
function fakeModel(window: ArrayLike<number>, voxels: number, out: Float32Array, offset: number): void {
  let mean = 0;
  for (let v = 0; v < voxels; v++) mean += window[v]!;
  mean /= voxels;
  for (let v = 0; v < voxels; v++) {
    const logits = Array.from({ length: C }, (_, c) => Math.sin(3 * (c + 1) * window[v]! + 5 * mean * (c + 1)));
    const max = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - max));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) out[offset + c * voxels + v] = e[c]! / sum;
  }
}

/**
 * Reference written straight from upstream's test_single_case_fast: np.pad centred, sx =
 * ceil((ww − p)/stride) + 1 windows at min(stride·i, ww − p), score/cnt, argmax, crop.
 */
function reference(image: Float32Array, dims: Vec3, P: number, strides: Vec3, weight: (x: number, y: number, z: number) => number): Uint8Array {
  const pad = dims.map((n) => Math.max(0, P - n));
  const before = pad.map((p) => Math.floor(p / 2));
  const padded = dims.map((n, a) => n + pad[a]!) as Vec3;
  const at = (x: number, y: number, z: number): number => {
    const [ix, iy, iz] = [x - before[0]!, y - before[1]!, z - before[2]!];
    return ix < 0 || iy < 0 || iz < 0 || ix >= dims[0] || iy >= dims[1] || iz >= dims[2] ? 0 : image[ix + dims[0] * (iy + dims[1] * iz)]!;
  };
  const n = padded[0] * padded[1] * padded[2];
  const score = new Float64Array(C * n);
  const count = new Float64Array(n);
  const counts = [0, 1, 2].map((a) => Math.ceil((padded[a]! - P) / strides[a]!) + 1);
  const voxels = P * P * P;
  for (let i = 0; i < counts[0]!; i++) for (let j = 0; j < counts[1]!; j++) for (let k = 0; k < counts[2]!; k++) {
    const o = [Math.min(strides[0] * i, padded[0] - P), Math.min(strides[1] * j, padded[1] - P), Math.min(strides[2] * k, padded[2] - P)];
    const window = new Float32Array(voxels);
    let v = 0;
    for (let z = 0; z < P; z++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) window[v++] = at(o[0]! + x, o[1]! + y, o[2]! + z);
    const probs = new Float32Array(C * voxels);
    fakeModel(window, voxels, probs, 0);
    v = 0;
    for (let z = 0; z < P; z++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++, v++) {
      const g = o[0]! + x + padded[0] * (o[1]! + y + padded[1] * (o[2]! + z));
      const w = weight(x, y, z);
      for (let c = 0; c < C; c++) score[c * n + g] += w * probs[c * voxels + v]!;
      count[g] += w;
    }
  }
  const labels = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0; z < dims[2]; z++) for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++) {
    const g = x + before[0]! + padded[0] * (y + before[1]! + padded[1] * (z + before[2]!));
    let best = 0;
    for (let c = 1; c < C; c++) if (score[c * n + g]! / count[g]! > score[best * n + g]! / count[g]!) best = c;
    labels[x + dims[0] * (y + dims[1] * z)] = best;
  }
  return labels;
}

function model(P: number, calls: number[]): (windows: Float32Array, n: number) => Promise<Float32Array> {
  return async (windows, n) => {
    calls.push(n);
    const voxels = P * P * P;
    const out = new Float32Array(n * C * voxels);
    for (let w = 0; w < n; w++) fakeModel(windows.subarray(w * voxels, (w + 1) * voxels), voxels, out, w * C * voxels);
    return out;
  };
}

describe('sliding-window inference', () => {
  const rng = new Rng(8);
  const P = 8;

  for (const [dims, strides] of [
    [[19, 13, 6], [5, 4, 3]],
    [[8, 8, 8], [3, 3, 3]],
    [[5, 23, 11], [8, 6, 4]],
  ] as [Vec3, Vec3][]) {
    it(`matches upstream's algorithm on ${dims.join('×')} with strides ${strides.join('/')} (padding, edge windows, averaging)`, async () => {
      const image = new Float32Array(dims[0] * dims[1] * dims[2]).map(() => rng.uniform());
      const calls: number[] = [];
      const labels = await slidingWindowLabels(image, dims, C, model(P, calls), { patch: P, strides, batch: 3, gaussian: false });
      expect(Array.from(labels)).toEqual(Array.from(reference(image, dims, P, strides, () => 1)));
      expect(calls.every((n) => n >= 1 && n <= 3)).toBe(true);
      const batchOfOne = await slidingWindowLabels(image, dims, C, model(P, []), { patch: P, strides, batch: 1, gaussian: false });
      expect(Array.from(batchOfOne)).toEqual(Array.from(labels));
    });
  }

  it('weights visits with a Gaussian (σ = P/8) when asked', async () => {
    const dims: Vec3 = [17, 12, 10];
    const image = new Float32Array(17 * 12 * 10).map(() => rng.uniform());
    const labels = await slidingWindowLabels(image, dims, C, model(P, []), { patch: P, strides: [3, 3, 3], batch: 4, gaussian: true });
    const g = (i: number): number => Math.exp(-((i - (P - 1) / 2) ** 2) / (2 * (P / 8) ** 2));
    const ref = reference(image, dims, P, [3, 3, 3], (x, y, z) => Math.max(1e-3, g(x) * g(y) * g(z)));
    expect(Array.from(labels)).toEqual(Array.from(ref));
    // the weighting must matter on this input, or the comparison above would prove nothing
    expect(Array.from(ref)).not.toEqual(Array.from(reference(image, dims, P, [3, 3, 3], () => 1)));
  });

  it('names a model that answers with the wrong number of values', async () => {
    await expect(slidingWindowLabels(new Float32Array(512), [8, 8, 8], C, async () => new Float32Array(10), { patch: P, strides: [4, 4, 4], batch: 2, gaussian: false })).rejects.toThrow(/returned 10 values for 1 windows/);
  });
});
