import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { useEngine } from '../support/engine.js';
import { expectClose, randomArray } from '../support/reference.js';

useEngine();

/** float64 x·Wᵀ + b for x [n, in]. */
function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, n: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y[r * outF + o] = s;
    }
  }
  return y;
}

describe('dense layers match float64', () => {
  it('linear on odd shapes, with and without bias', async () => {
    for (const [n, inF, outF] of [[7, 13, 5], [1, 512, 153], [33, 3, 17]] as const) {
      const x = randomArray(n * inF, n + inF, -1, 1);
      const w = randomArray(outF * inF, outF, -1, 1);
      const b = randomArray(outF, 9, -1, 1);
      expectClose(await T.linear(T.fromArray(x, [n, inF]), T.fromArray(w, [outF, inF]), T.fromArray(b)).toArray(), linearRef(x, w, b, n, inF, outF), 1e-5, 1e-5);
      expectClose(await T.linear(T.fromArray(x, [n, inF]), T.fromArray(w, [outF, inF])).toArray(), linearRef(x, w, null, n, inF, outF), 1e-5, 1e-5);
    }
    expect(() => T.linear(T.zeros([2, 3]), T.zeros([4, 5]))).toThrow(/weight \[4, 5\] must be \[out, 3\]/);
  });

  it('an MLP as the text projectors use it: ReLU(Linear(ReLU(Linear(x))))', async () => {
    const x = randomArray(32 * 12, 1, -1, 1);
    const w1 = randomArray(8 * 12, 2, -1, 1);
    const b1 = randomArray(8, 3, -1, 1);
    const w2 = randomArray(6 * 8, 4, -1, 1);
    const relu = (v: Float64Array) => v.map((u) => Math.max(u, 0));
    const expected = relu(linearRef(relu(linearRef(x, w1, b1, 32, 12, 8)), w2, null, 32, 8, 6));
    const y = T.mlp(T.fromArray(x, [32, 12]), [{ weight: T.fromArray(w1, [8, 12]), bias: T.fromArray(b1) }, { weight: T.fromArray(w2, [6, 8]) }], { reluLast: true });
    expectClose(await y.toArray(), expected, 1e-5, 1e-5);
  });

  it('GAP_C: GroupNorm(16, C) → ReLU → global average pool → 1×1 conv', async () => {
    const [b, c, e, side] = [2, 64, 7, 3];
    const s = side ** 3;
    const x = randomArray(b * c * s, 5, -2, 2);
    const gw = randomArray(c, 6, 0.5, 1.5);
    const gb = randomArray(c, 7, -0.5, 0.5);
    const pw = randomArray(e * c, 8, -0.3, 0.3);
    const pb = randomArray(e, 9, -1, 1);
    const pooled = new Float64Array(b * c);
    const per = c / 16;
    for (let bb = 0; bb < b; bb++) {
      for (let g = 0; g < 16; g++) {
        let mean = 0, sq = 0;
        for (let k = g * per; k < (g + 1) * per; k++) for (let v = 0; v < s; v++) mean += x[(bb * c + k) * s + v]!;
        mean /= per * s;
        for (let k = g * per; k < (g + 1) * per; k++) for (let v = 0; v < s; v++) sq += (x[(bb * c + k) * s + v]! - mean) ** 2;
        const rstd = 1 / Math.sqrt(sq / (per * s) + 1e-5);
        for (let k = g * per; k < (g + 1) * per; k++) {
          let acc = 0;
          for (let v = 0; v < s; v++) acc += Math.max(0, (x[(bb * c + k) * s + v]! - mean) * rstd * gw[k]! + gb[k]!);
          pooled[bb * c + k] = acc / s;
        }
      }
    }
    const y = T.gapBlock(T.fromArray(x, [b, c, side, side, side]), {
      normWeight: T.fromArray(gw), normBias: T.fromArray(gb), projWeight: T.fromArray(pw, [e, c, 1, 1, 1]), projBias: T.fromArray(pb),
    });
    expect(y.shape).toEqual([b, e]);
    expectClose(await y.toArray(), linearRef(pooled, pw, pb, b, c, e), 1e-4, 1e-5);
  });
});
