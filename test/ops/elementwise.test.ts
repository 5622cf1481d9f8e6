import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { expectClose, mapBroadcast, randomArray, numel } from '../support/reference.js';

useEngine();

const SHAPES = [[1], [7], [3, 5, 2], [2, 3, 257], [4, 1, 9]];

const unary: [string, (x: T.Tensor) => T.Tensor, (v: number) => number, [number, number]][] = [
  ['neg', T.neg, (v) => -v, [-3, 3]],
  ['exp', T.exp, Math.exp, [-3, 3]],
  ['log', T.log, Math.log, [0.1, 5]],
  ['sqrt', T.sqrt, Math.sqrt, [0, 5]],
  ['abs', T.abs, Math.abs, [-3, 3]],
  ['relu', T.relu, (v) => Math.max(v, 0), [-3, 3]],
  ['sigmoid', T.sigmoid, (v) => 1 / (1 + Math.exp(-v)), [-6, 6]],
  ['tanh', T.tanh, Math.tanh, [-3, 3]],
  ['reciprocal', T.reciprocal, (v) => 1 / v, [0.5, 4]],
  ['square', T.square, (v) => v * v, [-3, 3]],
  ['leaky_relu 0.2', (x) => T.leakyRelu(x, 0.2), (v) => (v > 0 ? v : 0.2 * v), [-3, 3]],
  ['pow_scalar 2.5', (x) => T.powScalar(x, 2.5), (v) => v ** 2.5, [0, 3]],
  ['clamp', (x) => T.clamp(x, -0.5, 1.25), (v) => Math.min(Math.max(v, -0.5), 1.25), [-3, 3]],
  ['affine', (x) => T.affine(x, -1.5, 0.25), (v) => -1.5 * v + 0.25, [-3, 3]],
  ['sign', T.sign, Math.sign, [-3, 3]],
];

describe('unary ops match a float64 reference', () => {
  for (const [name, op, ref, [lo, hi]] of unary) {
    it(name, async () => {
      for (const [k, shape] of SHAPES.entries()) {
        const data = randomArray(numel(shape), 10 + k, lo, hi);
        const y = await op(T.fromArray(data, shape)).toArray();
        expectClose(y, Float64Array.from(data, ref), 2e-6, 1e-6);
      }
    });
  }
});

const PAIRS: [number[], number[]][] = [
  [[3, 5, 2], [3, 5, 2]],
  [[2, 3, 8], [8]],
  [[2, 3, 8], [3, 1]],
  [[3, 1, 7], [1, 5, 1]],
  [[], [6, 5]],
  [[4, 1, 9], [1]],
  [[2, 4, 1, 1, 3], [4, 5, 1, 3]],
];

const binary: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor, (a: number, b: number) => number][] = [
  ['add', T.add, (a, b) => a + b],
  ['sub', T.sub, (a, b) => a - b],
  ['mul', T.mul, (a, b) => a * b],
  ['div', T.div, (a, b) => a / b],
  ['maximum', T.maximum, Math.max],
  ['minimum', T.minimum, Math.min],
  ['pow', T.pow, (a, b) => Math.abs(a) ** b],
  ['lt', T.lt, (a, b) => Number(a < b)],
  ['ge', T.ge, (a, b) => Number(a >= b)],
  ['eq', T.eq, (a, b) => Number(a === b)],
];

describe('binary ops broadcast like NumPy', () => {
  for (const [name, op, ref] of binary) {
    it(name, async () => {
      for (const [k, [sa, sb]] of PAIRS.entries()) {
        let a = randomArray(numel(sa), 100 + k, 0.5, 2);
        const b = randomArray(numel(sb), 200 + k, 0.5, 2);
        if (name === 'eq') a = a.map((v, i) => (i % 3 === 0 ? b[i % b.length]! : v));
        if (name === 'pow') a = a.map(Math.abs);
        const expected = mapBroadcast(ref, [{ data: a, shape: sa }, { data: b, shape: sb }]);
        const y = op(T.fromArray(a, sa), T.fromArray(b, sb));
        expect(y.shape).toEqual(expected.shape);
        expectClose(await y.toArray(), expected.data, 2e-6, 1e-6);
      }
    });
  }

  it('accepts a number as the second operand', async () => {
    const x = T.fromArray([1, 2, 3]);
    expect(Array.from(await T.add(x, 2).toArray())).toEqual([3, 4, 5]);
    expect(Array.from(await T.mul(x, -1).toArray())).toEqual([-1, -2, -3]);
    expect(Array.from(await T.gt(x, 1.5).toArray())).toEqual([0, 1, 1]);
  });

  it('rejects incompatible shapes with both shapes in the message', () => {
    expect(() => T.add(T.zeros([3, 4]), T.zeros([5]))).toThrow(/\[3, 4\] and \[5\] cannot be broadcast/);
  });

  it('rejects mixed dtypes and says how to fix it', () => {
    expect(() => T.add(T.zeros([3]), T.zeros([3], 'i32'))).toThrow(/different dtypes.*cast/);
  });
});

describe('integer tensors', () => {
  it('add, mul and comparisons work on i32 without going through floats', async () => {
    const a = T.fromArray(new Int32Array([16777217, -5, 7]));
    const b = T.fromArray(new Int32Array([1, 3, -2]));
    expect(Array.from(await T.add(a, b).toArray())).toEqual([16777218, -2, 5]);
    expect(Array.from(await T.mul(a, b).toArray())).toEqual([16777217, -15, -14]);
    expect(Array.from(await T.lt(a, b).toArray())).toEqual([0, 1, 0]);
  });

  it('cast truncates toward zero and round-trips', async () => {
    const x = T.fromArray([1.7, -1.7, 3, -0.2]);
    const i = T.cast(x, 'i32');
    expect(i.dtype).toBe('i32');
    expect(Array.from(await i.toArray())).toEqual([1, -1, 3, 0]);
    expect(Array.from(await T.cast(i, 'f32').toArray())).toEqual([1, -1, 3, 0]);
  });
});

describe('where', () => {
  it('selects with a broadcast condition', async () => {
    const cond = [1, 0, 0, 1, 0];
    const a = randomArray(15, 1);
    const b = randomArray(3, 2);
    const expected = mapBroadcast((c, x, y) => (c ? x : y), [
      { data: cond, shape: [5] },
      { data: a, shape: [3, 5] },
      { data: b, shape: [3, 1] },
    ]);
    const y = T.where(T.fromArray(cond, [5]), T.fromArray(a, [3, 5]), T.fromArray(b, [3, 1]));
    expectClose(await y.toArray(), expected.data);
  });
});

describe('tensors over the binding limit', () => {
  it('split into runs of rows with windowed inputs, broadcast ones included', async () => {
    const previous = capBindingBytes(2048); // a [6, 4, 64] tensor is 6 KB: runs of one outer index
    try {
      const cases: [number[], number[], number[]][] = [
        [[6, 4, 64], [6, 1, 64], [4, 1]], // b windowed along dim 0, c bound whole
        [[6, 4, 64], [1, 4, 64], [6, 4, 64]], // b repeated for every run (outer stride 0)
        [[2880], [2880], []], // flat: re-viewed as [45, 64] rows
      ];
      for (const [k, shapes] of cases.entries()) {
        const data = shapes.map((s, i) => randomArray(numel(s), 300 + 3 * k + i, -2, 2));
        const [a, b, c] = shapes.map((s, i) => T.fromArray(data[i]!, s));
        const inputs = shapes.map((s, i) => ({ data: data[i]!, shape: s }));
        expectClose(await T.where(T.gt(a!, 0), b!, c!).toArray(), mapBroadcast((x, y, z) => (x > 0 ? y : z), inputs).data);
        expectClose(await T.mul(a!, b!).toArray(), mapBroadcast((x, y) => x * y, inputs.slice(0, 2)).data, 2e-6, 1e-6);
      }
      // An innermost dim that is not a multiple of 4 gathers element by element: not split.
      expect(() => T.add(T.zeros([6, 4, 65]), T.zeros([6, 1, 65]))).toThrow(/binding limit/);
    } finally {
      capBindingBytes(previous);
    }
  });
});
