import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

const EPS = 1e-6;

/** float64 softmax-family reference over axis 1 of [outer, C, inner]. */
function reference(x: ArrayLike<number>, shape: number[], axis = 1) {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const c = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const probs = new Float64Array(x.length);
  const logProbs = new Float64Array(x.length);
  const entropy = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * c + k) * inner + i;
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, x[at(k)]!);
      let s = 0;
      for (let k = 0; k < c; k++) s += Math.exp(x[at(k)]! - m);
      let h = 0;
      for (let k = 0; k < c; k++) {
        const p = Math.exp(x[at(k)]! - m) / s;
        probs[at(k)] = p;
        logProbs[at(k)] = x[at(k)]! - m - Math.log(s);
        h -= p * Math.log(p + EPS);
      }
      entropy[o * inner + i] = h;
    }
  }
  return { probs, logProbs, entropy, outer, c, inner };
}

const SHAPES: [number[], number][] = [
  [[2, 3, 5], 1], // inner 5: one voxel per lane
  [[2, 16, 3, 4, 5], 1], // inner 60: vec4 lanes
  [[3, 7, 1, 2, 3], 1],
  [[4, 9], -1], // softmax over the last axis (rows)
  [[1, 1, 8], 1], // a single class
  [[2, 40, 2, 4], 1], // more channels than the kernel keeps in registers
];

describe('softmax family matches float64', () => {
  it('softmax, log_softmax and entropy from logits', async () => {
    for (const [k, [shape, axis]] of SHAPES.entries()) {
      const data = randomArray(numel(shape), 40 + k, -6, 6);
      const x = T.fromArray(data, shape);
      const ax = axis < 0 ? axis + shape.length : axis;
      const ref = reference(data, shape, ax);
      expectClose(await T.softmax(x, axis).toArray(), ref.probs, 1e-5, 1e-7);
      expectClose(await T.logSoftmax(x, axis).toArray(), ref.logProbs, 1e-5, 1e-5);
      const h = T.voxelEntropy(x, 'logits', axis);
      expect(h.shape).toEqual(shape.filter((_, i) => i !== ax));
      expectClose(await h.toArray(), ref.entropy, 1e-4, 1e-5);
    }
  });

  it('is stable for huge logits and exact for uniform logits', async () => {
    const x = T.fromArray(new Float32Array([1000, 0, -1000, 5, 5, 5]), [2, 3, 1]);
    expectClose(await T.softmax(x).toArray(), [1, 0, 0, 1 / 3, 1 / 3, 1 / 3], 1e-6, 1e-7);
    const uniform = T.zeros([2, 16, 4]);
    const h = await T.voxelEntropy(uniform).toArray();
    expectClose(h, new Float64Array(8).fill(-Math.log(1 / 16 + EPS)), 1e-5);
  });

  it('entropy from probabilities', async () => {
    const shape = [2, 5, 3, 3];
    const data = randomArray(numel(shape), 7, -3, 3);
    const ref = reference(data, shape);
    const p = T.fromArray(Float32Array.from(ref.probs), shape);
    expectClose(await T.voxelEntropy(p, 'probs').toArray(), ref.entropy, 1e-5, 1e-6);
  });

  it('VJPs match analytic float64 gradients', async () => {
    const shape = [2, 6, 3, 4];
    const data = randomArray(numel(shape), 11, -3, 3);
    const gData = randomArray(numel(shape), 12, -1, 1);
    const gVoxel = randomArray(2 * 12, 13, -1, 1);
    const ref = reference(data, shape);
    const { outer, c, inner } = ref;
    const gSoftmax = new Float64Array(data.length);
    const gLog = new Float64Array(data.length);
    const gEntropy = new Float64Array(data.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = (k: number) => (o * c + k) * inner + i;
        let dot = 0, total = 0, meanSlope = 0;
        const slope = (p: number) => -Math.log(p + EPS) - p / (p + EPS);
        for (let k = 0; k < c; k++) {
          dot += gData[at(k)]! * ref.probs[at(k)]!;
          total += gData[at(k)]!;
          meanSlope += ref.probs[at(k)]! * slope(ref.probs[at(k)]!);
        }
        for (let k = 0; k < c; k++) {
          const p = ref.probs[at(k)]!;
          gSoftmax[at(k)] = p * (gData[at(k)]! - dot);
          gLog[at(k)] = gData[at(k)]! - p * total;
          gEntropy[at(k)] = gVoxel[o * inner + i]! * p * (slope(p) - meanSlope);
        }
      }
    }
    const run = async (f: (x: T.Tensor) => T.Tensor, seed: Float32Array, seedShape: number[]) => {
      const x = T.fromArray(data, shape);
      x.requiresGrad = true;
      T.backward(f(x), T.fromArray(seed, seedShape));
      return x.grad!.toArray();
    };
    expectClose(await run((x) => T.softmax(x), gData, shape), gSoftmax, 1e-4, 1e-6);
    expectClose(await run((x) => T.logSoftmax(x), gData, shape), gLog, 1e-4, 1e-6);
    expectClose(await run((x) => T.voxelEntropy(x), gVoxel, [2, 3, 4]), gEntropy, 1e-4, 1e-6);
  });

  it('splits the batch across bindings when a tensor exceeds the binding limit', async () => {
    const shape = [5, 4, 3, 8];
    const data = randomArray(numel(shape), 21, -4, 4);
    const ref = reference(data, shape);
    const previous = capBindingBytes(2 * 4 * 24 * 4 + 64); // two images per binding
    try {
      const x = T.fromArray(data, shape);
      expectClose(await T.softmax(x).toArray(), ref.probs, 1e-5, 1e-7);
      expectClose(await T.voxelEntropy(x).toArray(), ref.entropy, 1e-4, 1e-5);
      capBindingBytes(100);
      expect(() => T.softmax(x)).toThrow(/maxStorageBufferBindingSize/);
    } finally {
      capBindingBytes(previous);
    }
  });
});

describe('labels', () => {
  it('argmax over channels picks the first maximum per voxel', async () => {
    const x = T.fromArray(new Float32Array([1, 7, 3, 3, 7, 0, 2, 3]), [1, 2, 2, 2]);
    expect(Array.from(await T.argmax(x, 1).toArray())).toEqual([1, 0, 0, 0]);
  });

  it('oneHot encodes labels and leaves the ignore label −1 all zero', async () => {
    const labels = T.fromArray(new Int32Array([0, 2, -1, 1, 2, 5]), [2, 3]);
    const hot = T.oneHot(labels, 3);
    expect(hot.shape).toEqual([2, 3, 3]);
    // [batch, class, voxel]: labels 5 and −1 are outside [0, 3).
    expect(Array.from(await hot.toArray())).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 0, /**/ 0, 0, 0, 1, 0, 0, 0, 1, 0]);
  });
});
