import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { expectClose, randomArray } from '../support/reference.js';

useEngine();

const P = 153;

/**
 * float64 dynamic head (method-spec §6): θ = [W1 (8×8, out-major) | W2 (8×8) | W3 (8) | b1 | b2 | b3],
 * z = W3·ReLU(W2·ReLU(W1·h + b1) + b2) + b3, and the gradients of Σ gz·z by the chain rule.
 */
function headRef(h: ArrayLike<number>, theta: ArrayLike<number>, gz: ArrayLike<number>, b: number, k: number, s: number) {
  const z = new Float64Array(b * k * s);
  const gh = new Float64Array(b * 8 * s);
  const gt = new Float64Array(b * k * P);
  for (let bb = 0; bb < b; bb++) {
    for (let kk = 0; kk < k; kk++) {
      const t = (bb * k + kk) * P;
      const th = (q: number) => theta[t + q]!;
      for (let v = 0; v < s; v++) {
        const x = Array.from({ length: 8 }, (_, c) => h[(bb * 8 + c) * s + v]!);
        const pre1 = Array.from({ length: 8 }, (_, o) => th(136 + o) + x.reduce((a, xi, i) => a + th(o * 8 + i) * xi, 0));
        const h1 = pre1.map((u) => Math.max(u, 0));
        const pre2 = Array.from({ length: 8 }, (_, o) => th(144 + o) + h1.reduce((a, hi, i) => a + th(64 + o * 8 + i) * hi, 0));
        const h2 = pre2.map((u) => Math.max(u, 0));
        z[(bb * k + kk) * s + v] = th(152) + h2.reduce((a, hi, o) => a + th(128 + o) * hi, 0);
        const g = gz[(bb * k + kk) * s + v]!;
        const g2 = pre2.map((u, o) => (u > 0 ? g * th(128 + o) : 0));
        const g1 = pre1.map((u, i) => (u > 0 ? g2.reduce((a, go, o) => a + th(64 + o * 8 + i) * go, 0) : 0));
        gt[t + 152] += g;
        for (let o = 0; o < 8; o++) {
          gt[t + 128 + o] += g * h2[o]!;
          gt[t + 144 + o] += g2[o]!;
          gt[t + 136 + o] += g1[o]!;
          for (let i = 0; i < 8; i++) {
            gt[t + 64 + o * 8 + i] += g2[o]! * h1[i]!;
            gt[t + o * 8 + i] += g1[o]! * x[i]!;
            gh[(bb * 8 + i) * s + v] += th(o * 8 + i) * g1[o]!;
          }
        }
      }
    }
  }
  return { z, gh, gt };
}

async function check(b: number, k: number, spatial: number[], seed: number) {
  const s = spatial.reduce((p, d) => p * d, 1);
  const h = randomArray(b * 8 * s, seed, -1, 1);
  const theta = randomArray(b * k * P, seed + 1, -0.6, 0.6);
  const gz = randomArray(b * k * s, seed + 2, -1, 1);
  const ref = headRef(h, theta, gz, b, k, s);
  const ht = T.fromArray(h, [b, 8, ...spatial]);
  const tt = T.fromArray(theta, [b, k, P]);
  ht.requiresGrad = true;
  tt.requiresGrad = true;
  const z = T.dynamicHead(ht, tt);
  expect(z.shape).toEqual([b, k, ...spatial]);
  expectClose(await z.toArray(), ref.z, 1e-5, 1e-5);
  T.backward(z, T.fromArray(gz, [b, k, ...spatial]));
  expectClose(await ht.grad!.toArray(), ref.gh, 1e-4, 1e-5);
  expectClose(await tt.grad!.toArray(), ref.gt, 1e-4, 1e-4);
}

describe('dynamic head matches float64', () => {
  it('forward, ∂h and ∂θ on odd sizes (one voxel per lane)', async () => {
    await check(2, 3, [3, 5, 7], 1);
  });

  it('vec4 lanes, several ∂θ blocks, AMOS-like K = 16', async () => {
    await check(2, 16, [12, 10, 10], 10); // 1200 voxels: 3 blocks of 512 per (b, k)
  });

  it('a single class (K = 1)', async () => {
    await check(1, 1, [4, 4, 4], 20);
  });

  it('splits the batch when a tensor exceeds the binding limit', async () => {
    const previous = capBindingBytes(2 * 8 * 64 * 4 + 64); // two images of h per binding
    try {
      await check(3, 2, [4, 4, 4], 30);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('names the expected shapes in its errors', () => {
    expect(() => T.dynamicHead(T.zeros([1, 7, 4]), T.zeros([1, 2, P]))).toThrow(/h must be \[B, 8, \.\.\.spatial\]/);
    expect(() => T.dynamicHead(T.zeros([1, 8, 4]), T.zeros([1, 2, 150]))).toThrow(/θ must be \[1, K, 153\]/);
  });
});
