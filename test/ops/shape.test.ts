import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { engine } from '../../src/gpu/engine.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray, stridesOf, unravel } from '../support/reference.js';

useEngine();

function permuteRef(data: Float32Array, shape: number[], order: number[]): Float32Array {
  const outShape = order.map((a) => shape[a]!);
  const s = stridesOf(shape);
  return Float32Array.from({ length: data.length }, (_, e) => {
    const idx = unravel(e, outShape);
    return data[idx.reduce((off, v, i) => off + v * s[order[i]!]!, 0)]!;
  });
}

describe('shape ops', () => {
  it('reshape shares memory and infers -1', async () => {
    const x = T.arange(0, 12, 1, 'f32');
    const y = T.reshape(x, [3, -1]);
    expect(y.shape).toEqual([3, 4]);
    expect(Array.from(await y.toArray())).toEqual(Array.from(await x.toArray()));
    expect(() => T.reshape(x, [5, -1])).toThrow(/Cannot reshape \[12\]/);
  });

  it('permute matches a reference on odd shapes', async () => {
    for (const [shape, order] of [
      [[3, 5, 2], [2, 0, 1]],
      [[2, 3, 4, 5, 3], [4, 1, 3, 0, 2]],
      [[7, 1, 3], [1, 2, 0]],
    ] as [number[], number[]][]) {
      const data = randomArray(numel(shape), 1);
      const y = T.permute(T.fromArray(data, shape), order);
      expect(Array.from(await y.toArray())).toEqual(Array.from(permuteRef(data, shape, order)));
    }
    expect(() => T.permute(T.zeros([2, 3]), [0, 0])).toThrow(/not a permutation/);
  });

  it('permute moving rows of 4k elements (vec4 path) and slice/concat runs of ≥ 65,536 elements (buffer-copy path)', async () => {
    // Inner dim 8 stays innermost: the copy moves vec4s; the outer dims are permuted.
    const shape = [3, 5, 2, 8];
    const data = randomArray(numel(shape), 2);
    const p = T.permute(T.fromArray(data, shape), [2, 0, 1, 3]);
    expect(Array.from(await p.toArray())).toEqual(Array.from(permuteRef(data, shape, [2, 0, 1, 3])));
    // A non-view slice whose rows are long contiguous runs, and the VJP that writes them back.
    const big = randomArray(3 * 70000, 3);
    const x = T.fromArray(big, [3, 70000]);
    x.requiresGrad = true;
    const rows = T.slice(x, [[1, 3], null]);
    expect(Array.from(await rows.toArray())).toEqual(Array.from(big.subarray(70000)));
    const joined = T.concat([rows, T.slice(x, [[0, 1], null])], 0);
    expect(Array.from(await joined.toArray())).toEqual([...big.subarray(70000), ...big.subarray(0, 70000)]);
    T.backward(T.sum(T.mul(rows, rows)));
    const g = await x.grad!.toArray();
    expect(Array.from(g.subarray(0, 70000)).every((v) => v === 0)).toBe(true);
    expect(Array.from(g.subarray(70000))).toEqual(Array.from(big.subarray(70000), (v) => Math.fround(2 * v)));
  });

  it('copies over the binding limit in runs of the outermost dim, each side bound as a window', async () => {
    const previous = capBindingBytes(2048);
    try {
      for (const [shape, order] of [
        [[6, 5, 4, 8], [0, 2, 1, 3]], // vec4 rows
        [[5, 7, 3, 9], [0, 3, 1, 2]], // scalar gather
        [[2000], [0]], // one flat run below the buffer-copy size: split by vec4s
      ] as [number[], number[]][]) {
        const data = randomArray(numel(shape), 4);
        const y = T.permute(T.fromArray(data, shape), order);
        expect(Array.from(await y.toArray())).toEqual(Array.from(permuteRef(data, shape, order)));
      }
      const data = randomArray(6 * 100, 5);
      const x = T.fromArray(data, [6, 100]);
      const strip = T.slice(x, [null, [10, 90, 2]]); // strided rows from windows of x
      expect(Array.from(await strip.toArray())).toEqual(Array.from({ length: 6 * 40 }, (_, i) => data[Math.floor(i / 40) * 100 + 10 + 2 * (i % 40)]!));
      // The outermost output dim moved inward in x: one output slice spans nearly all of x.
      expect(() => T.permute(T.zeros([6, 200]), [1, 0])).toThrow(/maxStorageBufferBindingSize of 2048 bytes/);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('slice with steps and negative indices', async () => {
    const x = T.reshape(T.arange(0, 30, 1, 'f32'), [5, 6]);
    const y = T.slice(x, [[1, -1], [0, 6, 2]]);
    expect(y.shape).toEqual([3, 3]);
    expect(Array.from(await y.toArray())).toEqual([6, 8, 10, 12, 14, 16, 18, 20, 22]);
  });

  it("slices of one activation add their gradients into the gradient so far", async () => {
    // h = 1.5x (not a leaf) is sliced three ways: rows of 4k (vec4 path), an odd inner range
    // (u32 path) and a contiguous block (a view). The first VJP backward() reaches writes zeros
    // and its region, the later ones add only their region into that gradient.
    const shape = [3, 5, 8];
    const x = randomArray(numel(shape), 3600);
    const xt = T.fromArray(x, shape);
    xt.requiresGrad = true;
    const h = T.mul(xt, 1.5);
    const ranges: T.SliceSpec[][] = [[[0, 2], [1, 5, 2], null], [[1, 3], null, [1, 6]], [[2, 3], null, null]];
    const expected = new Float64Array(numel(shape));
    let loss: T.Tensor | null = null;
    ranges.forEach((r, i) => {
      const y = T.slice(h, r);
      const g = randomArray(numel(y.shape), 3610 + i);
      const term = T.sum(T.mul(y, T.fromArray(g, y.shape)));
      loss = loss ? T.add(loss, term) : term;
      const lo = r.map((spec) => spec?.[0] ?? 0), step = r.map((spec) => spec?.[2] ?? 1);
      g.forEach((v, e) => {
        const at = unravel(e, [...y.shape]).map((c, a) => lo[a]! + c * step[a]!);
        expected[(at[0]! * 5 + at[1]!) * 8 + at[2]!] += 1.5 * v;
      });
    });
    T.backward(loss!);
    expectClose(await xt.grad!.toArray(), expected, 1e-6, 1e-6);
  });

  it('concat and stack', async () => {
    const a = T.fromArray([1, 2, 3, 4], [2, 2]);
    const b = T.fromArray([5, 6], [2, 1]);
    expect(Array.from(await T.concat([a, b], 1).toArray())).toEqual([1, 2, 5, 3, 4, 6]);
    expect(Array.from(await T.concat([a, T.reshape(b, [1, 2])], 0).toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    const s = T.stack([a, a], 1);
    expect(s.shape).toEqual([2, 2, 2]);
    expect(Array.from(await s.toArray())).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    expect(() => T.concat([a, T.zeros([3, 3])], 1)).toThrow(/do not match/);
  });

  it('pad fills the border with the value', async () => {
    const y = T.pad(T.fromArray([1, 2, 3, 4], [2, 2]), [[1, 0], [0, 2]], -1);
    expect(y.shape).toEqual([3, 4]);
    expect(Array.from(await y.toArray())).toEqual([-1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1]);
  });

  it('expand broadcasts, squeeze/unsqueeze reshape', async () => {
    const y = T.expand(T.fromArray([1, 2, 3], [3, 1]), [2, 3, 2]);
    expect(Array.from(await y.toArray())).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    expect(T.squeeze(T.zeros([1, 3, 1])).shape).toEqual([3]);
    expect(T.unsqueeze(T.zeros([3]), -1).shape).toEqual([3, 1]);
    expect(() => T.expand(T.zeros([3]), [2, 4])).toThrow(/cannot broadcast/);
  });
});

describe('gather family', () => {
  it('index_select, gather and scatter_add (duplicates summed)', async () => {
    const x = T.reshape(T.arange(0, 12, 1, 'f32'), [3, 4]);
    const idx = T.fromArray(new Int32Array([3, 0, 3]));
    expect(Array.from(await T.indexSelect(x, 1, idx).toArray())).toEqual([3, 0, 3, 7, 4, 7, 11, 8, 11]);
    expect(Array.from(await T.indexSelect(x, 0, T.fromArray(new Int32Array([2, 2]))).toArray())).toEqual([8, 9, 10, 11, 8, 9, 10, 11]);
    const g = T.gather(x, 1, T.fromArray(new Int32Array([1, 1, 0, 3, 2, 2]), [3, 2]));
    expect(Array.from(await g.toArray())).toEqual([1, 1, 4, 7, 10, 10]);
    const s = T.scatterAdd(T.zeros([2, 3]), 1, T.fromArray(new Int32Array([0, 0, 2, 1]), [2, 2]), T.fromArray([1, 2, 3, 4], [2, 2]));
    expect(Array.from(await s.toArray())).toEqual([3, 0, 0, 0, 4, 3]);
    expect(() => T.indexSelect(x, 1, T.fromArray([1, 2]))).toThrow(/must be i32/);
  });
});

describe('views', () => {
  it('a contiguous row block is a view at an offset, and every op reads it from there', async () => {
    const x = T.reshape(T.arange(0, 6 * 8, 1, 'f32'), [6, 8]);
    const buffers = engine().stats().liveBuffers;
    const rows = T.slice(x, [[2, 5]]);
    expect(engine().stats().liveBuffers).toBe(buffers); // no copy
    expect(rows.byteOffset).toBe(2 * 8 * 4);
    expect(Array.from(await rows.toArray())).toEqual(Array.from({ length: 24 }, (_, i) => 16 + i));
    expect(Array.from(await T.sum(rows, 1).toArray())).toEqual([156, 220, 284]);
    expect(Array.from(await T.add(rows, T.ones([8])).toArray()).slice(0, 3)).toEqual([17, 18, 19]);
    const inner = T.slice(rows, [[1, 2]]); // a view of a view
    expect(Array.from(await inner.toArray())).toEqual(Array.from({ length: 8 }, (_, i) => 24 + i));
    const prod = T.matmul(rows, T.ones([8, 4]));
    expect(Array.from(await prod.toArray())).toEqual([156, 156, 156, 156, 220, 220, 220, 220, 284, 284, 284, 284]);
    // Gradients through a view reach the right rows of the source.
    const w = T.fromArray(Array.from({ length: 24 }, (_, i) => i), [4, 6]);
    w.requiresGrad = true;
    T.backward(T.sum(T.mul(T.slice(w, [[1, 3]]), 2)));
    expect(Array.from(await w.grad!.toArray())).toEqual([0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0]);
  });
});
