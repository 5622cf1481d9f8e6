import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { Rng } from '../../src/util/random.js';
import { useEngine } from '../support/engine.js';
import { expectClose, randomArray } from '../support/reference.js';

useEngine();

// ---------------------------------------------------------------------------------------------
// float64 reference of upstream loss_amos.py ContrastiveLoss.contrastive_loss (method-spec §7):
// F.normalize, sim = AAᵀ/0.07, minus the detached row max, log_prob = logits − log(exp(logits) +
// Σ_neg exp(logits)), mean over positives (self excluded) with +1e-5, −mean over all anchors.

function normalizeRows(x: ArrayLike<number>, m: number, d: number): { unit: Float64Array; norms: Float64Array } {
  const unit = new Float64Array(m * d);
  const norms = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k]! ** 2;
    norms[i] = Math.max(Math.sqrt(s), 1e-12);
    for (let k = 0; k < d; k++) unit[i * d + k] = x[i * d + k]! / norms[i]!;
  }
  return { unit, norms };
}

function supConRef(x: ArrayLike<number>, labels: ArrayLike<number>, d: number, tau = 0.07): number {
  const m = labels.length;
  const { unit } = normalizeRows(x, m, d);
  let total = 0;
  for (let i = 0; i < m; i++) {
    const logits = new Float64Array(m);
    let max = -Infinity;
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += unit[i * d + k]! * unit[j * d + k]!;
      logits[j] = s / tau;
      max = Math.max(max, logits[j]!);
    }
    let neg = 0;
    for (let j = 0; j < m; j++) {
      logits[j] = logits[j]! - max;
      if (labels[j] !== labels[i]) neg += Math.exp(logits[j]!);
    }
    let sum = 0, count = 0;
    for (let j = 0; j < m; j++) {
      if (j === i || labels[j] !== labels[i]) continue;
      sum += logits[j]! - Math.log(Math.exp(logits[j]!) + neg);
      count++;
    }
    total += -sum / (count + 1e-5);
  }
  return total / m;
}

/** ∂ supConRef / ∂x in float64 by central differences (small cases only). */
function supConNumericGrad(x: Float64Array, labels: ArrayLike<number>, d: number, tau: number): Float64Array {
  const g = new Float64Array(x.length);
  const h = 1e-6;
  for (let e = 0; e < x.length; e++) {
    const keep = x[e]!;
    x[e] = keep + h;
    const up = supConRef(x, labels, d, tau);
    x[e] = keep - h;
    const down = supConRef(x, labels, d, tau);
    x[e] = keep;
    g[e] = (up - down) / (2 * h);
  }
  return g;
}

async function gradOf(f: (x: T.Tensor) => T.Tensor, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const x = T.fromArray(data, shape);
  x.requiresGrad = true;
  T.backward(f(x));
  return (await x.grad!.toArray()) as Float32Array;
}

function labelsFor(m: number, classes: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: m }, () => rng.int(classes));
}

describe('SupCon matches float64', () => {
  it('value and gradient on a small odd case (central differences in float64)', async () => {
    const m = 23, d = 7, tau = 0.2;
    const x = randomArray(m * d, 1, -1, 1);
    const labels = labelsFor(m, 5, 2);
    labels[4] = 9; // a class with a single anchor: no positives
    const loss = await T.supConLoss(T.fromArray(x, [m, d]), labels, { temperature: tau }).item();
    expectClose([loss], [supConRef(x, labels, d, tau)], 1e-5, 1e-6);
    const grad = await gradOf((t) => T.supConLoss(t, labels, { temperature: tau }), x, [m, d]);
    expectClose(grad, supConNumericGrad(Float64Array.from(x), labels, d, tau), 2e-3, 2e-5);
  });

  it('several column tiles and workgroups, τ = 0.07, text-like anchor pairs', async () => {
    for (const [m, d] of [[301, 64], [70, 600]] as const) {
      const x = randomArray(m * d, 3 + d, -1, 1);
      const labels = labelsFor(m, 16, 4 + d);
      const loss = await T.supConLoss(T.fromArray(x, [m, d]), labels).item();
      expectClose([loss], [supConRef(x, labels, d)], 2e-5, 1e-6);
    }
  });

  it('gradient over several Gram row blocks matches float64 central differences', async () => {
    const m = 3001, d = 8, tau = 0.07; // 3008 padded rows: two blocks of the Gram matrix
    const x = randomArray(m * d, 8, -1, 1);
    const labels = labelsFor(m, 16, 9);
    const grad = await gradOf((t) => T.supConLoss(t, labels, { temperature: tau }), x, [m, d]);
    const x64 = Float64Array.from(x);
    expectClose([await T.supConLoss(T.fromArray(x, [m, d]), labels, { temperature: tau }).item()], [supConRef(x, labels, d, tau)], 2e-5);
    for (const e of [5, m * d - 3]) {
      const keep = x64[e]!;
      x64[e] = keep + 1e-6;
      const up = supConRef(x64, labels, d, tau);
      x64[e] = keep - 1e-6;
      const down = supConRef(x64, labels, d, tau);
      x64[e] = keep;
      expectClose([grad[e]!], [(up - down) / 2e-6], 2e-3, 1e-6);
    }
  });

  it('gives 0 when every anchor has the same label or every label is unique', async () => {
    const x = T.randn([6, 4]);
    for (const labels of [new Int32Array(6), Int32Array.from([0, 1, 2, 3, 4, 5])]) {
      expect(Math.abs(await T.supConLoss(x, labels).item())).toBeLessThan(1e-6);
      const g = await gradOf((t) => T.supConLoss(t, labels), (await x.toArray()) as Float32Array, [6, 4]);
      expect(Math.max(...Array.from(g, Math.abs))).toBeLessThan(1e-6);
    }
    expect(() => T.supConLoss(x, new Int32Array(5))).toThrow(/5 labels for 6 anchors/);
  });
});

describe('anchor sampling', () => {
  it('takes all voxels of small classes and n seeded random ones of large classes', async () => {
    const [b, c, side] = [2, 3, 4];
    const s = side ** 3;
    const features = T.fromArray(randomArray(b * c * s, 5, -1, 1), [b, c, side, side, side]);
    // Labels at twice the resolution: nearest downsampling takes every other voxel.
    const full = new Int32Array(b * 8 * s).fill(-1);
    const small = new Int32Array(b * s).fill(-1);
    const rng = new Rng(3);
    for (let bb = 0; bb < b; bb++) for (let z = 0; z < side; z++) for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
      const v = rng.uniform();
      const label = v < 0.5 ? 0 : v < 0.6 ? 2 : v < 0.9 ? -1 : 5;
      small[bb * s + (z * side + y) * side + x] = label;
      full[bb * 8 * s + ((2 * z) * 2 * side + 2 * y) * 2 * side + 2 * x] = label;
    }
    const labels = T.fromArray(full, [b, 2 * side, 2 * side, 2 * side]);
    const first = await T.sampleAnchors(features, labels, 4, new Rng(11));
    const again = await T.sampleAnchors(features, labels, 4, new Rng(11));
    expect(Array.from(again.labels)).toEqual(Array.from(first.labels));
    expectClose(await again.features.toArray(), await first.features.toArray(), 0, 0);
    // Per image and class: min(count, 4) anchors, classes ascending, −1 never sampled.
    const expected: number[] = [];
    for (let bb = 0; bb < b; bb++) {
      for (const k of [0, 2, 5]) {
        const count = Array.from(small.subarray(bb * s, (bb + 1) * s)).filter((v) => v === k).length;
        for (let i = 0; i < Math.min(count, 4); i++) expected.push(k);
      }
    }
    expect(Array.from(first.labels)).toEqual(expected);
    // Every anchor's feature vector is the features at a voxel of its class in its image.
    const feats = (await features.toArray()) as Float32Array;
    const rows = (await first.features.toArray()) as Float32Array;
    const used = new Set<number>();
    for (let row = 0; row < first.labels.length; row++) {
      const match = Array.from({ length: b * s }, (_, v) => v).find((v) => {
        const [bb, i] = [Math.floor(v / s), v % s];
        return !used.has(v) && small[v] === first.labels[row] && [0, 1, 2].every((k) => feats[(bb * c + k) * s + i] === rows[row * c + k]);
      });
      expect(match).toBeDefined();
      used.add(match!);
    }
  });

  it('the gradient reaches exactly the sampled voxels', async () => {
    const x = T.fromArray(randomArray(2 * 3 * 8, 6, -1, 1), [2, 3, 2, 2, 2]);
    x.requiresGrad = true;
    const labels = T.fromArray(new Int32Array([0, 0, 1, 1, 1, -1, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2]), [2, 2, 2, 2]);
    const sample = await T.sampleAnchors(x, labels, 2, new Rng(1));
    T.backward(T.sum(sample.features));
    const grad = (await x.grad!.toArray()) as Float32Array;
    const touched = Array.from({ length: 16 }, (_, v) => grad[Math.floor(v / 8) * 24 + (v % 8)]);
    expect(touched.filter((g) => g === 1).length).toBe(sample.labels.length);
    expect(touched.every((g) => g === 0 || g === 1)).toBe(true);
    expect(Array.from(grad).every((g, i) => g === grad[Math.floor(i / 24) * 24 + (i % 8)])).toBe(true);
  });

  it('a stage loss: sampled anchors plus text rows, as upstream', async () => {
    const features = T.fromArray(randomArray(2 * 8 * 27, 12, -1, 1), [2, 8, 3, 3, 3]);
    const labels = T.fromArray(Int32Array.from({ length: 54 }, (_, i) => (i % 7 === 0 ? -1 : i % 3)), [2, 3, 3, 3]);
    const text = T.fromArray(randomArray(6 * 8, 13, -1, 1), [6, 8]);
    const textLabels = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const loss = await T.contrastiveStageLoss(features, labels, text, textLabels, 4, new Rng(5));
    const sample = await T.sampleAnchors(features, labels, 4, new Rng(5));
    const all = new Float64Array([...(await sample.features.toArray()), ...(await text.toArray())]);
    expectClose([await loss.item()], [supConRef(all, [...sample.labels, ...textLabels], 8)], 1e-5, 1e-6);
  });

  it('a stage whose labels are all ignored contrasts the text rows alone', async () => {
    const text = T.fromArray(randomArray(4 * 5, 14, -1, 1), [4, 5]);
    const textLabels = Int32Array.from([0, 1, 0, 1]);
    const loss = await T.contrastiveStageLoss(T.randn([1, 5, 2, 2, 2]), T.full([1, 2, 2, 2], -1, 'i32'), text, textLabels, 3, new Rng(1));
    expectClose([await loss.item()], [supConRef(await text.toArray(), textLabels, 5)], 1e-5, 1e-6);
  });

  it('gatherVoxels refuses a voxel chosen twice', () => {
    expect(() => T.gatherVoxels(T.zeros([1, 2, 4]), new Int32Array([1, 3, 1]))).toThrow(/voxel 1 is chosen twice/);
  });
});

describe('InfoNCE', () => {
  it('matches float64 cross-entropy against the diagonal', async () => {
    const n = 9, d = 5, tau = 0.1;
    const q = randomArray(n * d, 20, -1, 1);
    const k = randomArray(n * d, 21, -1, 1);
    const qn = normalizeRows(q, n, d).unit;
    const kn = normalizeRows(k, n, d).unit;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const logits = Array.from({ length: n }, (_, j) => Array.from({ length: d }, (_, e) => qn[i * d + e]! * kn[j * d + e]!).reduce((a, b) => a + b) / tau);
      const max = Math.max(...logits);
      loss += max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0)) - logits[i]!;
    }
    const got = await T.infoNce(T.fromArray(q, [n, d]), T.fromArray(k, [n, d]), { temperature: tau }).item();
    expectClose([got], [loss / n], 1e-5, 1e-6);
  });
});
