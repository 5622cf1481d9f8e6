import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray, unravel } from '../support/reference.js';

useEngine();

/** float64 reduction of `data` (shape) over `axes`. */
function reference(data: Float32Array, shape: number[], axes: number[], op: 'sum' | 'mean' | 'max' | 'min' | 'argmax') {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = numel(outShape);
  const acc = new Float64Array(n).fill(op === 'max' || op === 'argmax' ? -Infinity : op === 'min' ? Infinity : 0);
  const arg = new Float64Array(n);
  const count = axes.reduce((p, a) => p * shape[a]!, 1);
  for (let e = 0; e < data.length; e++) {
    const idx = unravel(e, shape);
    const o = idx.reduce((off, v, i) => off * outShape[i]! + (axes.includes(i) ? 0 : v), 0);
    const v = data[e]!;
    if (op === 'sum' || op === 'mean') acc[o] += v;
    else if (op === 'max' && v > acc[o]!) acc[o] = v;
    else if (op === 'min' && v < acc[o]!) acc[o] = v;
    else if (op === 'argmax' && v > acc[o]!) {
      acc[o] = v;
      arg[o] = idx[axes[0]!]!;
    }
  }
  if (op === 'mean') for (let i = 0; i < n; i++) acc[i] = acc[i]! / count;
  return op === 'argmax' ? arg : acc;
}

const CASES: [number[], number[]][] = [
  [[7], [0]],
  [[3, 5, 2], [1]],
  [[3, 5, 2], [0, 2]],
  [[3, 5, 2], [0, 1, 2]],
  [[2, 3, 257], [2]],
  [[4, 1, 9], [0]],
  [[1, 100_003], [1]], // long reduction with a tiny output: split into partial sums
  [[37, 3001], [0]],
  [[3, 4, 5, 6, 7], [0, 2, 3, 4]], // a bias gradient: reduced in two passes, no permuted copy
  [[2, 3, 4, 5], [0, 2]],
];

describe('reductions match float64', () => {
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    it(op, async () => {
      for (const [k, [shape, axes]] of CASES.entries()) {
        const data = randomArray(numel(shape), 300 + k);
        const fn = { sum: T.sum, mean: T.mean, max: T.max, min: T.min }[op];
        const y = fn(T.fromArray(data, shape), axes, true);
        expect(y.shape).toEqual(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
        expectClose(await y.toArray(), reference(data, shape, axes, op), 1e-5, 1e-4);
      }
    });
  }

  it('split over the binding limit: runs of the outer axis, or R = R1·R2 in two passes', async () => {
    const previous = capBindingBytes(8192); // 2044 f32 per binding
    try {
      const cases: [number[], number[]][] = [
        [[12, 5, 64], [1]], // runs of outer rows
        [[12, 5, 64], [0, 1, 2]], // R = 3840 = 8 · 480
        [[3, 4, 5, 6, 7], [0, 2, 3, 4]],
      ];
      for (const [k, [shape, axes]] of cases.entries()) {
        const data = randomArray(numel(shape), 500 + k);
        for (const op of ['sum', 'max'] as const) {
          const y = (op === 'sum' ? T.sum : T.max)(T.fromArray(data, shape), axes, true);
          expectClose(await y.toArray(), reference(data, shape, axes, op), 1e-5, 1e-4);
        }
      }
      const data = randomArray(12 * 5 * 64, 510);
      expect(Array.from(await T.argmax(T.fromArray(data, [12, 5, 64]), 1).toArray())).toEqual(Array.from(reference(data, [12, 5, 64], [1], 'argmax')));
      // One [R, inner] slice over the limit with no divisor of R that fits: a clear refusal.
      expect(() => T.sum(T.fromArray(data, [12, 5, 64]), 0)).toThrow(/maxStorageBufferBindingSize/);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('non-adjacent axes without keepdim drop every reduced axis', async () => {
    const shape = [3, 4, 5, 6];
    const data = randomArray(numel(shape), 77);
    const y = T.max(T.fromArray(data, shape), [0, 2, 3]);
    expect(y.shape).toEqual([4]);
    expectClose(await y.toArray(), reference(data, shape, [0, 2, 3], 'max'), 1e-6, 1e-6);
  });

  it('argmax picks the first maximum', async () => {
    const data = new Float32Array([1, 5, 5, 2, 9, 0, 9, 3]);
    expect(Array.from(await T.argmax(T.fromArray(data, [2, 4]), 1).toArray())).toEqual([1, 0]);
    const big = randomArray(3 * 17 * 5, 9);
    const y = T.argmax(T.fromArray(big, [3, 17, 5]), 1);
    expect(y.dtype).toBe('i32');
    expect(Array.from(await y.toArray())).toEqual(Array.from(reference(big, [3, 17, 5], [1], 'argmax')));
  });

  it('drops reduced axes unless keepdim, and accepts negative axes', () => {
    const x = T.zeros([2, 3, 4]);
    expect(T.sum(x, -1).shape).toEqual([2, 3]);
    expect(T.sum(x).shape).toEqual([]);
    expect(T.mean(x, [0, 2], true).shape).toEqual([1, 3, 1]);
    expect(() => T.sum(x, 3)).toThrow(/Axis 3 is out of range for a tensor of rank 3/);
  });

  it('sumTo undoes broadcasting', async () => {
    const g = T.ones([2, 3, 4]);
    expect(Array.from(await T.sumTo(g, [3, 1]).toArray())).toEqual([8, 8, 8]);
    expect(Array.from(await T.sumTo(g, [4]).toArray())).toEqual([6, 6, 6, 6]);
  });
});
