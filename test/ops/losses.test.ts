import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { Rng } from '../../src/util/random.js';
import { useEngine } from '../support/engine.js';
import { expectClose, randomArray } from '../support/reference.js';

useEngine();

// ---------------------------------------------------------------------------------------------
// float64 references of upstream loss_amos.py (method-spec §4), written from the formulas.

interface Case {
  b: number;
  c: number;
  s: number;
  spatial: number[];
}

function probsOf(x: ArrayLike<number>, { b, c, s }: Case): Float64Array {
  const p = new Float64Array(b * c * s);
  for (let o = 0; o < b; o++) {
    for (let i = 0; i < s; i++) {
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, x[(o * c + k) * s + i]!);
      let z = 0;
      for (let k = 0; k < c; k++) z += Math.exp(x[(o * c + k) * s + i]! - m);
      for (let k = 0; k < c; k++) p[(o * c + k) * s + i] = Math.exp(x[(o * c + k) * s + i]! - m) / z;
    }
  }
  return p;
}

/** Per-voxel w_y·ce and w_y (0 for ignored or out-of-range labels). */
function crossEntropyRef(x: ArrayLike<number>, labels: ArrayLike<number>, cs: Case, weight?: number[], ignore = -100) {
  const { b, c, s } = cs;
  const p = probsOf(x, cs);
  const ce = new Float64Array(b * s);
  const w = new Float64Array(b * s);
  for (let o = 0; o < b; o++) {
    for (let i = 0; i < s; i++) {
      const y = labels[o * s + i]!;
      if (y < 0 || y >= c || y === ignore) continue;
      w[o * s + i] = weight?.[y] ?? 1;
      ce[o * s + i] = -Math.log(p[(o * c + y) * s + i]!) * w[o * s + i]!;
    }
  }
  return { ce, w, p };
}

function diceRef(p: ArrayLike<number>, labels: ArrayLike<number>, { b, c, s }: Case, ga: boolean, smooth = 1e-10, weight?: number[]) {
  const n = b * s;
  let loss = 0;
  const grad = new Float64Array(p.length);
  for (let k = 0; k < c; k++) {
    let inter = 0, squares = 0, count = 0;
    for (let o = 0; o < b; o++) {
      for (let i = 0; i < s; i++) {
        const q = p[(o * c + k) * s + i]!;
        const t = labels[o * s + i] === k ? 1 : 0;
        inter += q * t;
        squares += q * q;
        count += t;
      }
    }
    const union = squares + count + smooth;
    const absent = ga && count === 0;
    const w = weight?.[k] ?? 1;
    loss += w * (absent ? squares / (n - count) : 1 - (2 * inter + smooth) / union);
    for (let o = 0; o < b; o++) {
      for (let i = 0; i < s; i++) {
        const at = (o * c + k) * s + i;
        const t = labels[o * s + i] === k ? 1 : 0;
        grad[at] = (w * (absent ? p[at]! / n : -2 * t / union + (2 * (2 * inter + smooth) * p[at]!) / (union * union))) / c;
      }
    }
  }
  return { loss: loss / c, grad };
}

/** GA-CE given per-voxel losses: top K by value (ties: lowest index), class-balanced (loss_amos.py GACE). */
function gaSumRef(values: ArrayLike<number>, labels: ArrayLike<number>, c: number, percent = 10, gamma = 0.5) {
  const n = values.length;
  const k = Math.floor((n * percent) / 100);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
  const selected = new Set(order.slice(0, k));
  const counts = new Float64Array(c);
  const sums = new Float64Array(c);
  for (const i of selected) {
    const y = labels[i]!;
    if (y < 0 || y >= c) continue;
    counts[y]++;
    sums[y] += values[i]!;
  }
  let loss = 0;
  const coef = new Float64Array(c);
  for (let y = 0; y < c; y++) {
    coef[y] = 1 / ((counts[y]! + 1e-10) ** (1 - gamma) * k ** gamma + 1e-10);
    loss += sums[y]! * coef[y]!;
  }
  const grad = Float64Array.from({ length: n }, (_, i) => (selected.has(i) && labels[i]! >= 0 && labels[i]! < c ? coef[labels[i]!]! : 0));
  return { loss, grad, selected };
}

function makeCase(b: number, c: number, spatial: number[]): Case {
  return { b, c, s: spatial.reduce((p, d) => p * d, 1), spatial };
}

function randomLabels(n: number, c: number, seed: number, skip: number[] = []): Int32Array {
  const rng = new Rng(seed);
  const allowed = Array.from({ length: c }, (_, i) => i).filter((k) => !skip.includes(k));
  return Int32Array.from({ length: n }, () => allowed[rng.int(allowed.length)]!);
}

async function gradOf(f: (x: T.Tensor) => T.Tensor, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const x = T.fromArray(data, shape);
  x.requiresGrad = true;
  T.backward(f(x));
  return (await x.grad!.toArray()) as Float32Array;
}

const SHAPES: [number, number, number[]][] = [
  [2, 5, [3, 1, 5]], // 15 voxels: one voxel per lane
  [3, 16, [2, 3, 4]], // 24 voxels: vec4 lanes, AMOS's 16 classes
  [1, 3, [7, 11, 13]], // 1001 voxels, several workgroups
  [2, 37, [2, 2, 3]], // more classes than the kernels keep in registers
];

describe('cross-entropy matches float64', () => {
  it('voxelwise and mean, with class weights and an ignore index', async () => {
    for (const [k, [b, c, spatial]] of SHAPES.entries()) {
      const cs = makeCase(b, c, spatial);
      const x = randomArray(b * c * cs.s, 100 + k, -4, 4);
      const labels = randomLabels(b * cs.s, c, 200 + k);
      labels[1] = -100;
      labels[2] = -1;
      const weight = Array.from({ length: c }, (_, i) => 0.5 + (i % 3));
      const ref = crossEntropyRef(x, labels, cs, weight);
      const logits = T.fromArray(x, [b, c, ...spatial]);
      const y = T.fromArray(labels, [b, ...spatial]);
      const voxel = T.voxelCrossEntropy(logits, y, { weight });
      expect(voxel.shape).toEqual([b, ...spatial]);
      expectClose(await voxel.toArray(), ref.ce, 1e-5, 1e-5);
      const mean = ref.ce.reduce((p, v) => p + v, 0) / ref.w.reduce((p, v) => p + v, 0);
      expectClose([await T.crossEntropy(logits, y, { weight }).item()], [mean], 1e-5);
      // Gradient of the mean: w_y·(p − onehot)/Σw.
      const total = ref.w.reduce((p, v) => p + v, 0);
      const expected = new Float64Array(x.length);
      for (let o = 0; o < b; o++) for (let i = 0; i < cs.s; i++) for (let kk = 0; kk < c; kk++) {
        const at = (o * c + kk) * cs.s + i;
        const w = ref.w[o * cs.s + i]!;
        expected[at] = (w * (ref.p[at]! - (labels[o * cs.s + i] === kk ? 1 : 0))) / total;
      }
      expectClose(await gradOf((t) => T.crossEntropy(t, y, { weight }), x, [b, c, ...spatial]), expected, 1e-4, 1e-6);
    }
  });

  it('is 0 with zero gradient when every voxel is ignored, and accepts [B, 1, ...] labels', async () => {
    const logits = T.randn([2, 3, 4]);
    const ignored = T.full([2, 1, 4], -100, 'i32');
    expect(await T.crossEntropy(logits, ignored).item()).toBe(0);
    const g = await gradOf((t) => T.crossEntropy(t, ignored), (await logits.toArray()) as Float32Array, [2, 3, 4]);
    expect(Array.from(g).every((v) => v === 0)).toBe(true);
    expect(() => T.crossEntropy(logits, T.zeros([2, 5], 'i32'))).toThrow(/labels of shape \[2, 5\] do not match/);
  });

  it('splits batches that exceed the binding limit', async () => {
    const cs = makeCase(4, 3, [8]);
    const x = randomArray(4 * 3 * 8, 5, -3, 3);
    const labels = randomLabels(32, 3, 6);
    const ref = crossEntropyRef(x, labels, cs);
    const previous = capBindingBytes(3 * 8 * 4 + 16); // one image per binding
    try {
      const loss = T.crossEntropy(T.fromArray(x, [4, 3, 8]), T.fromArray(labels, [4, 8]));
      expectClose([await loss.item()], [ref.ce.reduce((p, v) => p + v, 0) / 32], 1e-5);
    } finally {
      capBindingBytes(previous);
    }
  });
});

describe('Dice and GA-Dice match float64', () => {
  it('standard soft Dice and GA-Dice with a class absent from the whole batch', async () => {
    for (const [k, [b, c, spatial]] of SHAPES.entries()) {
      const cs = makeCase(b, c, spatial);
      const p = probsOf(randomArray(b * c * cs.s, 300 + k, -3, 3), cs);
      const labels = randomLabels(b * cs.s, c, 400 + k, [c - 1]); // last class absent
      labels[0] = -1; // no class
      const probs = T.fromArray(Float32Array.from(p), [b, c, ...spatial]);
      const y = T.fromArray(labels, [b, ...spatial]);
      for (const ga of [false, true]) {
        const ref = diceRef(Float32Array.from(p), labels, cs, ga);
        const f = (t: T.Tensor) => (ga ? T.gaDiceLoss(t, y) : T.diceLoss(t, y));
        expectClose([await f(probs).item()], [ref.loss], 1e-5, 1e-6);
        expectClose(await gradOf(f, Float32Array.from(p), [b, c, ...spatial]), ref.grad, 1e-4, 1e-7);
      }
    }
  });

  it('weights classes and handles a single class', async () => {
    const cs = makeCase(2, 3, [5]);
    const p = Float32Array.from(probsOf(randomArray(30, 9, -2, 2), cs));
    const labels = randomLabels(10, 3, 10);
    const weight = [1, 0, 3];
    const ref = diceRef(p, labels, cs, false, 1e-5, weight);
    const y = T.fromArray(labels, [2, 5]);
    const f = (t: T.Tensor) => T.diceLoss(t, y, { weight, smooth: 1e-5 });
    expectClose([await f(T.fromArray(p, [2, 3, 5])).item()], [ref.loss], 1e-5, 1e-6);
    expectClose(await gradOf(f, p, [2, 3, 5]), ref.grad, 1e-4, 1e-7);
    // One class: p ≡ 1 and every voxel labelled 0 → 1 − 2n/(n + n) = 0.
    const one = T.ones([2, 1, 3]);
    expect(Math.abs(await T.gaDiceLoss(one, T.zeros([2, 3], 'i32')).item())).toBeLessThan(1e-6);
  });
});

describe('top-K selection and GA cross-entropy', () => {
  it('selects exactly K with ties by lowest index', async () => {
    const rng = new Rng(31);
    const n = 5003;
    const values = Float32Array.from({ length: n }, () => Math.round(rng.normal() * 4) / 4); // many ties
    values[17] = -0;
    values[18] = 0;
    for (const k of [0, 1, 7, 500, 2500, n]) {
      const mask = await T.topkMask(T.fromArray(values), k).toArray();
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b).slice(0, k);
      expect(Array.from(mask).reduce((p, v) => p + v, 0)).toBe(k);
      expect(Array.from(mask, (v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual(order.sort((a, b) => a - b));
    }
  });

  it('GA cross-entropy matches the float64 formula, with its gradient', async () => {
    for (const [k, [b, c, spatial]] of SHAPES.entries()) {
      const cs = makeCase(b, c, spatial);
      const x = randomArray(b * c * cs.s, 500 + k, -4, 4);
      const labels = randomLabels(b * cs.s, c, 600 + k);
      labels[3] = -100;
      const logits = T.fromArray(x, [b, c, ...spatial]);
      const y = T.fromArray(labels, [b, ...spatial]);
      // The selection is made on the f32 losses the GPU computed (checked against float64 above);
      // a float64 recomputation could order near-equal values differently.
      const ce = (await T.voxelCrossEntropy(logits, y).toArray()) as Float32Array;
      expectClose(ce, crossEntropyRef(x, labels, cs).ce, 1e-5, 1e-5);
      const ref = gaSumRef(ce, labels, c);
      expectClose([await T.gaCrossEntropy(logits, y).item()], [ref.loss], 1e-5, 1e-6);
      // d/dx = Σ_i coef_i·(p − onehot) over the selected voxels.
      const p = probsOf(x, cs);
      const expected = new Float64Array(x.length);
      for (let o = 0; o < b; o++) for (let i = 0; i < cs.s; i++) for (let kk = 0; kk < c; kk++) {
        const at = (o * c + kk) * cs.s + i;
        expected[at] = ref.grad[o * cs.s + i]! * (p[at]! - (labels[o * cs.s + i] === kk ? 1 : 0));
      }
      expectClose(await gradOf((t) => T.gaCrossEntropy(t, y), x, [b, c, ...spatial]), expected, 1e-4, 1e-6);
    }
  });

  it('uniform logits: every loss ties at log C, the first K voxels are taken', async () => {
    const c = 4, n = 50;
    const labels = randomLabels(n, c, 77);
    const loss = await T.gaCrossEntropy(T.zeros([1, c, n]), T.fromArray(labels, [1, n])).item();
    const ref = gaSumRef(new Float64Array(n).fill(Math.log(c)), labels, c);
    expect([...ref.selected].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expectClose([loss], [ref.loss], 1e-5);
  });

  it('fewer than 10 voxels (K = 0) and a single class give 0', async () => {
    expect(await T.gaCrossEntropy(T.randn([1, 3, 9]), T.zeros([1, 9], 'i32')).item()).toBe(0);
    expect(await T.gaCrossEntropy(T.randn([2, 1, 20]), T.zeros([2, 20], 'i32')).item()).toBe(0);
  });
});
