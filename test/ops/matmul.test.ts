import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

/** float64 batched matmul with broadcasting of [.., M, K] · [.., K, N]. */
function reference(a: Float32Array, as: number[], b: Float32Array, bs: number[]): { data: Float64Array; shape: number[] } {
  const m = as[as.length - 2]!, k = as[as.length - 1]!, n = bs[bs.length - 1]!;
  const ab = as.slice(0, -2), bb = bs.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const batch = Array.from({ length: rank }, (_, i) => Math.max(ab[ab.length - rank + i] ?? 1, bb[bb.length - rank + i] ?? 1));
  const out = new Float64Array(numel(batch) * m * n);
  const index = (shape: number[], idx: number[]) => {
    let off = 0;
    shape.forEach((d, i) => (off = off * d + (d === 1 ? 0 : idx[idx.length - shape.length + i]!)));
    return off;
  };
  for (let z = 0; z < numel(batch); z++) {
    const idx: number[] = [];
    let r = z;
    for (let i = rank - 1; i >= 0; i--) {
      idx[i] = r % batch[i]!;
      r = Math.floor(r / batch[i]!);
    }
    const ao = index(ab, idx) * m * k, bo = index(bb, idx) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a[ao + i * k + q]! * b[bo + q * n + j]!;
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return { data: out, shape: [...batch, m, n] };
}

const CASES: [number[], number[]][] = [
  [[1, 1], [1, 1]],
  [[3, 5], [5, 7]],
  [[64, 32], [32, 96]],
  [[37, 41], [41, 29]], // odd everything: padded K and N, clamped M tail
  [[2, 3, 8], [8, 12]], // B shared by the batch
  [[5, 8], [3, 8, 4]], // A shared by the batch
  [[2, 1, 9, 6], [3, 6, 10]], // broadcast over two batch dims
  [[70, 260], [260, 33]], // several row and column tiles
];

describe('matmul matches float64', () => {
  it('on odd and broadcast shapes', async () => {
    for (const [i, [as, bs]] of CASES.entries()) {
      const a = randomArray(numel(as), 700 + i), b = randomArray(numel(bs), 800 + i);
      const y = T.matmul(T.fromArray(a, as), T.fromArray(b, bs));
      const ref = reference(a, as, b, bs);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, 1e-5, 2e-5 * Math.sqrt(as[as.length - 1]!));
    }
  });

  it('treats rank-1 operands as vectors (torch.matmul)', async () => {
    const a = randomArray(6, 1), b = randomArray(6 * 5, 2);
    const y = T.matmul(T.fromArray(a, [6]), T.fromArray(b, [6, 5]));
    expect(y.shape).toEqual([5]);
    expectClose(await y.toArray(), reference(a, [1, 6], b, [6, 5]).data, 1e-5, 1e-5);
    const v = T.matmul(T.fromArray(b, [5, 6]), T.fromArray(a, [6]));
    expect(v.shape).toEqual([5]);
    expectClose(await v.toArray(), reference(b, [5, 6], a, [6, 1]).data, 1e-5, 1e-5);
  });

  it('rejects mismatched inner dimensions with both shapes in the message', () => {
    expect(() => T.matmul(T.zeros([2, 3]), T.zeros([4, 5]))).toThrow(/\[2, 3\] · \[4, 5\]/);
  });
});

describe('matmul gradients', () => {
  it('dA = g·Bᵀ and dB = Aᵀ·g with batch broadcasting (central differences)', async () => {
    const report = await gradcheck(T.matmul, [T.randn([2, 1, 3, 5], 0, 1, { seed: 3 }), T.randn([3, 5, 6], 0, 1, { seed: 4 })]);
    expect(report.pass, JSON.stringify(report.inputs)).toBe(true);
  });
});
