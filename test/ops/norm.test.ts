import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { backward } from '../../src/autograd/graph.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { liveBuffers, useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

/**
 * float64 group normalisation over x [N, C, R] with `groups` groups (instance: groups = C) or, for
 * batch norm, statistics per channel over N and R. Returns y and the input/affine gradients of
 * Σ gy·y from the textbook formulas.
 */
function reference(x: Float32Array, shape: number[], kind: 'group' | 'batch', groups: number, gamma: Float32Array | null, beta: Float32Array | null, eps: number, gy?: Float32Array, relu = false) {
  const [n, c] = [shape[0]!, shape[1]!];
  const r = numel(shape.slice(2));
  const members: number[][] = []; // element indices of each statistics group
  if (kind === 'batch') {
    for (let ch = 0; ch < c; ch++) members.push(Array.from({ length: n * r }, (_, k) => (Math.floor(k / r) * c + ch) * r + (k % r)));
  } else {
    const per = c / groups;
    for (let b = 0; b < n; b++) for (let g = 0; g < groups; g++) members.push(Array.from({ length: per * r }, (_, k) => (b * c + g * per) * r + k));
  }
  const y = new Float64Array(x.length);
  const xhat = new Float64Array(x.length);
  const rstdOf = new Float64Array(x.length);
  const stats: { mean: number; variance: number }[] = [];
  for (const idx of members) {
    const mean = idx.reduce((s, i) => s + x[i]!, 0) / idx.length;
    const variance = idx.reduce((s, i) => s + (x[i]! - mean) ** 2, 0) / idx.length;
    stats.push({ mean, variance });
    const rstd = 1 / Math.sqrt(variance + eps);
    for (const i of idx) {
      const ch = Math.floor(i / r) % c;
      xhat[i] = (x[i]! - mean) * rstd;
      rstdOf[i] = rstd;
      y[i] = xhat[i]! * (gamma ? gamma[ch]! : 1) + (beta ? beta[ch]! : 0);
      if (relu) y[i] = Math.max(0, y[i]!);
    }
  }
  if (!gy) return { y, stats };
  const g = Float64Array.from(gy, (v, i) => (relu && !(y[i]! > 0) ? 0 : v));
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / r) % c;
    dgamma[ch] += g[i]! * xhat[i]!;
    dbeta[ch] += g[i]!;
  }
  for (const idx of members) {
    const gg = (i: number) => g[i]! * (gamma ? gamma[Math.floor(i / r) % c]! : 1);
    const a = idx.reduce((s, i) => s + gg(i), 0) / idx.length;
    const b = idx.reduce((s, i) => s + gg(i) * xhat[i]!, 0) / idx.length;
    for (const i of idx) dx[i] = rstdOf[i]! * (gg(i) - a - xhat[i]! * b);
  }
  return { y, stats, dx, dgamma, dbeta };
}

const SHAPES: number[][] = [
  [2, 3, 3, 5, 7], // odd spatial size: scalar path
  [2, 4, 4, 6, 8], // vec4 path
  [1, 2, 16, 16, 20], // several chunks per row
];

describe('instanceNorm3d and groupNorm match float64', () => {
  for (const [k, shape] of SHAPES.entries()) {
    for (const [kind, groups] of [['instance', shape[1]!], ['group', shape[1]! % 2 === 0 ? 2 : 1]] as const) {
      // γ and β each optional: the coefficient kernel binds only the ones given.
      for (const affine of ['', 'weight', 'bias', 'weight+bias']) {
        it(`${kind} ${shape.join('x')}${affine ? ` ${affine}` : ''}`, async () => {
          const c = shape[1]!;
          const data = randomArray(numel(shape), 40 + k, -1, 3);
          const gamma = affine.includes('weight') ? randomArray(c, 50 + k, 0.5, 1.5) : null;
          const beta = affine.includes('bias') ? randomArray(c, 60 + k) : null;
          const gy = randomArray(numel(shape), 70 + k);
          const ref = reference(data, shape, 'group', groups, gamma, beta, 1e-5, gy);
          const x = T.fromArray(data, shape);
          const w = gamma ? T.fromArray(gamma) : null;
          const b = beta ? T.fromArray(beta) : null;
          for (const t of [x, w, b]) if (t) t.requiresGrad = true;
          const options = { weight: w, bias: b };
          const y = kind === 'instance' ? T.instanceNorm3d(x, options) : T.groupNorm(x, groups, options);
          expectClose(await y.toArray(), ref.y, 1e-4, 1e-5);
          backward(y, T.fromArray(gy, shape));
          expectClose(await x.grad!.toArray(), ref.dx!, 1e-3, 1e-4);
          if (w) expectClose(await w.grad!.toArray(), ref.dgamma!, 1e-4, 1e-4);
          if (b) expectClose(await b.grad!.toArray(), ref.dbeta!, 1e-4, 1e-4);
        });
      }
    }
  }

  it('fuses ReLU (forward and the masked gradient)', async () => {
    const shape = [2, 2, 4, 4, 8];
    const data = randomArray(numel(shape), 3);
    const gy = randomArray(numel(shape), 4);
    const ref = reference(data, shape, 'group', 2, null, null, 1e-5, gy, true);
    const x = T.fromArray(data, shape);
    x.requiresGrad = true;
    const y = T.instanceNorm3d(x, { relu: true });
    expectClose(await y.toArray(), ref.y, 1e-4, 1e-5);
    backward(y, T.fromArray(gy, shape));
    expectClose(await x.grad!.toArray(), ref.dx!, 1e-3, 1e-4);
  });

  it('adds a residual after the ReLU (V-Net skip), whose gradient is dy', async () => {
    const shape = [2, 3, 3, 4, 8];
    const data = randomArray(numel(shape), 5);
    const skip = randomArray(numel(shape), 6);
    const gy = randomArray(numel(shape), 7);
    const gamma = randomArray(3, 8, 0.5, 1.5), beta = randomArray(3, 9);
    const ref = reference(data, shape, 'group', 3, gamma, beta, 1e-5, gy, true);
    const x = T.fromArray(data, shape), r = T.fromArray(skip, shape);
    x.requiresGrad = true;
    r.requiresGrad = true;
    const y = T.instanceNorm3d(x, { weight: T.fromArray(gamma), bias: T.fromArray(beta), relu: true, residual: r });
    expectClose(await y.toArray(), Array.from(ref.y, (v, i) => v + skip[i]!), 1e-4, 1e-5);
    backward(y, T.fromArray(gy, shape));
    expectClose(await x.grad!.toArray(), ref.dx!, 1e-3, 1e-4);
    expect(Array.from(await r.grad!.toArray())).toEqual(Array.from(gy));
    expect(() => T.instanceNorm3d(x, { residual: T.zeros([2, 3, 3, 4, 4]) })).toThrow(/residual must be an f32 tensor of the input's shape \[2, 3, 3, 4, 8\]/);
  });

  it('keeps fp32 variance accurate for data far from zero (shifted sums)', async () => {
    const shape = [1, 1, 8, 16, 16];
    const data = Float32Array.from(randomArray(numel(shape), 5), (v) => 1000 + v * 1e-2);
    const y = await T.instanceNorm3d(T.fromArray(data, shape)).toArray();
    expectClose(y, reference(data, shape, 'group', 1, null, null, 1e-5).y, 2e-3, 2e-3);
  });

  it('splits rows over the binding limit with identical results', async () => {
    const shape = [2, 3, 4, 4, 8];
    const x = T.fromArray(randomArray(numel(shape), 6), shape);
    const whole = await T.instanceNorm3d(x).toArray();
    const previous = capBindingBytes(4 * 4 * 8 * 4 + 64); // one row per binding
    try {
      expectClose(await T.instanceNorm3d(x).toArray(), whole, 0, 0);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('names bad group counts and parameter shapes', () => {
    expect(() => T.groupNorm(T.zeros([1, 6, 4]), 4)).toThrow(/6 channels cannot be split into 4 groups/);
    expect(() => T.instanceNorm3d(T.zeros([1, 3, 2, 2, 2]), { weight: T.ones([2]) })).toThrow(/weight must be .* shape \[3\]/);
  });
});

describe('batchNorm matches float64', () => {
  for (const shape of [[3, 2, 3, 5, 7], [4, 3, 2, 2, 4], [5, 6], [4, 3, 9]]) {
    it(`training ${shape.join('x')} with running statistics`, async () => {
      const c = shape[1]!;
      const data = randomArray(numel(shape), 80, -1, 3);
      const gamma = randomArray(c, 81, 0.5, 1.5);
      const beta = randomArray(c, 82);
      const gy = randomArray(numel(shape), 83);
      const ref = reference(data, shape, 'batch', c, gamma, beta, 1e-5, gy);
      const rm0 = randomArray(c, 84), rv0 = randomArray(c, 85, 0.5, 2);
      const runningMean = T.fromArray(rm0), runningVar = T.fromArray(rv0);
      const x = T.fromArray(data, shape), w = T.fromArray(gamma), b = T.fromArray(beta);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const bn = shape.length <= 3 ? T.batchNorm1d : T.batchNorm;
      const y = bn(x, { weight: w, bias: b, runningMean, runningVar });
      expectClose(await y.toArray(), ref.y, 1e-4, 1e-5);
      const count = numel(shape) / c;
      expectClose(await runningMean.toArray(), Float64Array.from(rm0, (v, i) => 0.9 * v + 0.1 * ref.stats[i]!.mean), 1e-5, 1e-6);
      expectClose(await runningVar.toArray(), Float64Array.from(rv0, (v, i) => 0.9 * v + (0.1 * ref.stats[i]!.variance * count) / (count - 1)), 1e-4, 1e-6);
      backward(y, T.fromArray(gy, shape));
      expectClose(await x.grad!.toArray(), ref.dx!, 1e-3, 1e-4);
      expectClose(await w.grad!.toArray(), ref.dgamma!, 1e-4, 1e-4);
      expectClose(await b.grad!.toArray(), ref.dbeta!, 1e-4, 1e-4);
    });
  }

  it('evaluation mode normalises with the running statistics', async () => {
    const shape = [2, 3, 4, 5];
    const data = randomArray(numel(shape), 90);
    const rm = randomArray(3, 91), rv = randomArray(3, 92, 0.5, 2), gamma = randomArray(3, 93), beta = randomArray(3, 94);
    const y = await T.batchNorm(T.fromArray(data, shape), {
      training: false, runningMean: T.fromArray(rm), runningVar: T.fromArray(rv), weight: T.fromArray(gamma), bias: T.fromArray(beta),
    }).toArray();
    const expected = Float64Array.from(data, (v, i) => {
      const ch = Math.floor(i / 20) % 3;
      return ((v - rm[ch]!) / Math.sqrt(rv[ch]! + 1e-5)) * gamma[ch]! + beta[ch]!;
    });
    expectClose(y, expected, 1e-5, 1e-6);
  });

  it('refuses a single value per channel in training, like PyTorch', () => {
    expect(() => T.batchNorm1d(T.zeros([1, 4]))).toThrow(/more than 1 value per channel/);
  });
});

describe('norm memory', () => {
  it('forward + backward + dispose returns every buffer', async () => {
    const step = async () => {
      const x = T.randn([2, 4, 3, 4, 8]), w = T.ones([4]), b = T.zeros([4]);
      const rm = T.zeros([4]), rv = T.ones([4]);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const y = T.add(T.instanceNorm3d(x, { weight: w, bias: b, relu: true }), T.batchNorm(x, { runningMean: rm, runningVar: rv }));
      backward(T.sum(y));
      await x.grad!.toArray();
      for (const t of [x, w, b, y, rm, rv]) t.dispose();
    };
    await T.asyncScope(step);
    const before = liveBuffers();
    for (let i = 0; i < 3; i++) await T.asyncScope(step);
    expect(liveBuffers()).toBe(before);
  });
});
