import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor, scope } from '../tensor/tensor.js';
import { fromArray, full, rand, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { outerRuns, runBinding } from './chunks.js';
import { detach } from '../autograd/graph.js';
import { add, copy, div, eq, gt, mul, powScalar, reciprocal, sub, where } from './elementwise.js';
import { sum } from './reduce.js';
import { defineComposite, defineOp } from './registry.js';
import { reshape, slice } from './shape.js';
import { softmax } from './softmax.js';
import { radixSelect, selectedClassWeights } from './topk.js';

/**
 * Segmentation losses over NCDHW logits/probabilities with integer labels (method-spec §4):
 * cross-entropy (voxelwise and mean, class weights, ignore index), soft Dice, and the
 * gradient-aware GA cross-entropy and GA Dice of upstream `loss_amos.py`. Each is a fused kernel
 * over the voxels (lanes over voxels, a loop over classes) followed by tiny per-class arithmetic.
 */

const WG = 64;

interface LabelledView {
  outer: number;
  c: number;
  inner: number;
}

/** Checks x [B, C, ...S] against labels [B, ...S] (or [B, 1, ...S]) and views them. */
function labelledView(x: Tensor, labels: Tensor, op: string): LabelledView {
  x.live();
  labels.live();
  if (x.dtype !== 'f32') throw new TakError(`${op} needs f32 scores, got ${x.dtype}${show([...x.shape])}`);
  if (labels.dtype !== 'i32') throw new TakError(`${op} needs i32 labels, got ${labels.dtype}${show([...labels.shape])}; cast with cast(x, 'i32')`);
  if (x.ndim < 2) throw new TakError(`${op} needs scores shaped [B, C, ...], got ${show([...x.shape])}`);
  const [batch, c, ...spatial] = x.shape;
  const plain = [batch, ...spatial];
  const withChannel = [batch, 1, ...spatial];
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (!same(labels.shape, plain) && !same(labels.shape, withChannel)) {
    throw new TakError(`${op}: labels of shape ${show([...labels.shape])} do not match scores ${show([...x.shape])}; expected ${show(plain)}`);
  }
  return { outer: batch!, c: c!, inner: spatial.reduce((p, d) => p * d, 1) };
}

function classWeights(c: number, weight: readonly number[] | undefined, op: string): Tensor {
  if (weight === undefined) return full([c], 1);
  if (weight.length !== c || weight.some((w) => !Number.isFinite(w) || w < 0)) {
    throw new TakError(`${op}: weight must hold ${c} non-negative numbers (one per class), got ${show([...weight])}`);
  }
  return fromArray(Float32Array.from(weight));
}

/**
 * Views of the tensors a VJP reads: the graph owns them, so backward still works after the caller
 * disposed its own handles (labels, or an input it no longer needs).
 */
function hold(...tensors: Tensor[]): [Tensor, Tensor] {
  const [a, b] = tensors.map((t) => Tensor.view(t, t.shape));
  return [a!, b!];
}

/** A scalar (shape []) element `i` of a 1-D tensor. */
function element(t: Tensor, i: number): Tensor {
  const s = slice(t, [[i, i + 1]]);
  const out = reshape(s, []);
  s.dispose();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy (kernels/cross_entropy.wgsl).

export interface CrossEntropyOptions {
  /** Per-class weights w_c (torch's `weight`). */
  weight?: readonly number[];
  /** Label to ignore (torch's default −100); labels outside [0, C) are ignored as well. */
  ignoreIndex?: number;
}

const CE = { voxel: 0, partial: 1, grad: 2 } as const;
const CE_PER = 4;
/** Classes kept in registers per voxel (kernels/cross_entropy.wgsl MAXC); more are re-read. */
const MAX_CACHED = 32;

function runCrossEntropy(mode: number, logits: Tensor, labels: Tensor, weight: Tensor, v: LabelledView, ignore: number, gv: Tensor | null, gvScalar = false): Tensor {
  const vec = v.inner % 4 === 0 ? 4 : 1;
  const e = engine();
  const kernel = e.kernel({ file: 'cross_entropy', constants: { MODE: mode, C: v.c, CACHED: v.c <= MAX_CACHED, VEC: vec, WG, PER: CE_PER, GV_SCALAR: gvScalar } });
  const full_ = v.c * v.inner;
  const runs = outerRuns('cross-entropy', v.outer, [full_, v.inner]);
  const groupsOf = (count: number) => Math.ceil((count * v.inner) / vec / (WG * CE_PER));
  const out =
    mode === CE.voxel ? Tensor.empty([v.outer, v.inner]) :
    mode === CE.grad ? Tensor.empty(logits.shape) :
    Tensor.empty([runs.reduce((p, r) => p + groupsOf(r.count), 0), 4]);
  let partialAt = 0;
  for (const run of runs) {
    const work = (run.count * v.inner) / vec;
    const groups = mode === CE.partial ? groupsOf(run.count) : Math.ceil(work / WG);
    const y =
      mode === CE.voxel ? runBinding(out, run, v.inner) :
      mode === CE.grad ? runBinding(out, run, full_) :
      runBinding(out, { start: partialAt, count: groups }, 4);
    partialAt += groups;
    const g = gv === null ? weight.binding : gvScalar ? gv.binding : runBinding(gv, run, v.inner);
    e.dispatch(
      kernel,
      { x: runBinding(logits, run, full_), labels: runBinding(labels, run, v.inner), weight: weight.binding, gv: g, y },
      { inner: v.inner, work, ignore: ignore },
      grid(groups),
    );
  }
  return out;
}

/**
 * Per-voxel cross-entropy w_y·(logsumexp(x) − x_y) of logits [B, C, ...S] and labels [B, ...S]
 * → [B, ...S], 0 where ignored (torch CrossEntropyLoss with reduction 'none').
 */
export const voxelCrossEntropy: (logits: Tensor, labels: Tensor, options?: CrossEntropyOptions) => Tensor = defineOp({
  name: 'voxel_cross_entropy',
  family: 'losses',
  forward: (logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}) => {
    const v = labelledView(logits, labels, 'voxelCrossEntropy');
    const ignore = options.ignoreIndex ?? -100;
    const weight = classWeights(v.c, options.weight, 'voxelCrossEntropy');
    const flat = runCrossEntropy(CE.voxel, logits, labels, weight, v, ignore, null);
    const out = reshape(flat, [v.outer, ...logits.shape.slice(2)]);
    flat.dispose();
    const held = hold(logits, labels);
    return {
      out,
      inputs: [logits],
      saved: [weight, ...held],
      vjp: (g) => [runCrossEntropy(CE.grad, held[0], held[1], weight, v, ignore, g)],
    };
  },
  gradcheck: [
    {
      label: '2x4x5, class weights, an ignored voxel',
      inputs: () => [randn([2, 4, 5], 0, 1.5), fromArray(new Int32Array([0, 3, 1, -100, 2, 2, 1, 0, 3, 3]), [2, 5])],
      fn: (x, y) => voxelCrossEntropy(x, y!, { weight: [0.5, 1, 2, 1.5] }),
      wrt: [0],
    },
    {
      label: '1x3x2x2x2 (vec4 lanes)',
      inputs: () => [randn([1, 3, 2, 2, 2], 0, 1.5), fromArray(new Int32Array([0, 1, 2, 2, 1, 0, 0, 1]), [1, 2, 2, 2])],
      wrt: [0],
    },
  ],
});

/**
 * Mean cross-entropy Σ_i w_{y_i}·ce_i / Σ_i w_{y_i} over the non-ignored voxels (torch's 'mean'
 * with weights). When every voxel is ignored the loss is 0 with zero gradient (torch gives NaN).
 */
export const crossEntropy: (logits: Tensor, labels: Tensor, options?: CrossEntropyOptions) => Tensor = defineOp({
  name: 'cross_entropy',
  family: 'losses',
  forward: (logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}) => {
    const v = labelledView(logits, labels, 'crossEntropy');
    const ignore = options.ignoreIndex ?? -100;
    const weight = classWeights(v.c, options.weight, 'crossEntropy');
    const { out, safe } = scope(() => {
      const totals = sum(runCrossEntropy(CE.partial, logits, labels, weight, v, ignore, null), 0);
      const denominator = element(totals, 1);
      const safe = add(denominator, eq(denominator, 0));
      return { out: div(element(totals, 0), safe), safe };
    });
    const held = hold(logits, labels);
    return {
      out,
      inputs: [logits],
      saved: [weight, safe, ...held],
      vjp: (g) => [runCrossEntropy(CE.grad, held[0], held[1], weight, v, ignore, reshape(div(g, safe), [1]), true)],
    };
  },
  gradcheck: [
    {
      label: '2x4x3, weights, ignore index 2',
      inputs: () => [randn([2, 4, 3], 0, 1.5), fromArray(new Int32Array([0, 2, 1, 3, 3, -1]), [2, 3])],
      fn: (x, y) => crossEntropy(x, y!, { weight: [1, 0.5, 2, 1.5], ignoreIndex: 2 }),
      wrt: [0],
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Per-class sums (kernels/class_sums.wgsl) shared by Dice, GA-Dice and GA cross-entropy.

const SUMS = { dice: 0, selected: 1 } as const;
const SUMS_PER = 8;

/** Largest power-of-two workgroup ≤ 64 whose per-lane sums (3·C floats each) fit 32 KiB. */
function sumsWorkgroup(c: number): number {
  const limit = engine().limits.maxComputeWorkgroupStorageSize ?? 16384;
  let wg = WG;
  while (wg > 1 && wg * 3 * c * 4 > limit) wg /= 2;
  if (wg * 3 * c * 4 > limit) throw new TakError(`Per-class sums over ${c} classes need more workgroup memory than this adapter's ${limit} bytes`);
  return wg;
}

/** [3, C] sums over the voxels (rows per MODE, see the kernel); state is GA-CE's selection. */
function classSums(mode: number, values: Tensor, labels: Tensor, v: LabelledView, state: Tensor | null): Tensor {
  const vec = v.inner % 4 === 0 ? 4 : 1;
  const wg = sumsWorkgroup(v.c);
  const e = engine();
  const kernel = e.kernel({ file: 'class_sums', constants: { MODE: mode, C: v.c, CHUNK: Math.min(v.c, MAX_CACHED), VEC: vec, WG: wg, PER: SUMS_PER } });
  const perValues = mode === SUMS.dice ? v.c * v.inner : v.inner;
  let total: Tensor | null = null;
  for (const run of outerRuns('per-class sums', v.outer, [perValues, v.inner])) {
    const work = (run.count * v.inner) / vec;
    const groups = Math.ceil(work / (wg * SUMS_PER));
    const partials = Tensor.empty([groups, 3 * v.c]);
    e.dispatch(
      kernel,
      {
        values: runBinding(values, run, perValues),
        labels: runBinding(labels, run, v.inner),
        state: (state ?? labels).binding,
        y: partials.binding,
      },
      { c: v.c, inner: v.inner, work },
      grid(groups),
    );
    const sums = sum(partials, 0);
    partials.dispose();
    if (total) {
      const next = add(total, sums);
      total.dispose();
      sums.dispose();
      total = next;
    } else {
      total = sums;
    }
  }
  const out = reshape(total!, [3, v.c]);
  total!.dispose();
  return out;
}

/** gp[o, c, i] = α_c·[label = c] + β_c·p[o, c, i] (kernels/class_grad.wgsl, MODE 0). */
function diceGradient(probs: Tensor, labels: Tensor, v: LabelledView, alpha: Tensor, beta: Tensor): Tensor {
  const coef = reshape(concatRows(alpha, beta), [2 * v.c]);
  const vec = v.inner % 4 === 0 ? 4 : 1;
  const e = engine();
  const kernel = e.kernel({ file: 'class_grad', constants: { MODE: 0, VEC: vec, WG } });
  const out = Tensor.empty(probs.shape);
  const full_ = v.c * v.inner;
  for (const run of outerRuns('Dice gradient', v.outer, [full_, v.inner])) {
    const work = (run.count * v.inner) / vec;
    e.dispatch(
      kernel,
      { values: runBinding(probs, run, full_), labels: runBinding(labels, run, v.inner), state: labels.binding, coef: coef.binding, y: runBinding(out, run, full_) },
      { c: v.c, inner: v.inner, work },
      grid(Math.ceil(work / WG)),
    );
  }
  coef.dispose();
  return out;
}

function concatRows(a: Tensor, b: Tensor): Tensor {
  const both = Tensor.empty([2, a.size]);
  const e = engine();
  e.copy(a.buffer, a.byteOffset, both.buffer, 0, a.byteLength);
  e.copy(b.buffer, b.byteOffset, both.buffer, a.byteLength, b.byteLength);
  return both;
}

// ---------------------------------------------------------------------------------------------
// Dice and GA-Dice.

export interface DiceOptions {
  /** Per-class weights (upstream `weight`); the sum over classes is divided by C either way. */
  weight?: readonly number[];
}

interface DiceTerms {
  intersection: Tensor;
  squares: Tensor;
  counts: Tensor;
  /** w_c / C */
  factor: Tensor;
}

function diceTerms(probs: Tensor, labels: Tensor, v: LabelledView, weight: readonly number[] | undefined, op: string): DiceTerms {
  const sums = classSums(SUMS.dice, probs, labels, v, null);
  const flat = reshape(sums, [3 * v.c]);
  const row = (i: number) => slice(flat, [[i * v.c, (i + 1) * v.c]]);
  const w = classWeights(v.c, weight, op);
  return { intersection: row(0), squares: row(1), counts: row(2), factor: mul(w, 1 / v.c) };
}

/** Present-class Dice term 1 − (2I + s)/(P + T + s) and its α, β (∂/∂p = α·t + β·p). */
function presentDice(t: DiceTerms, smooth: number) {
  const union = add(add(t.squares, t.counts), smooth);
  const overlap = add(mul(t.intersection, 2), smooth);
  const ratio = div(overlap, union);
  return {
    loss: sub(full([], 1), ratio),
    alpha: div(mul(t.factor, -2), union),
    beta: div(mul(mul(ratio, t.factor), 2), union),
  };
}

/**
 * Soft Dice over probabilities [B, C, ...S] and labels [B, ...S], per class over the whole batch:
 * (1/C)·Σ_c w_c·(1 − (2Σp·t + s)/(Σp² + Σt² + s)) with s = 1e-10 (upstream `DiceLoss`,
 * loss_amos.py). Labels outside [0, C) are no class.
 */
export const diceLoss: (probs: Tensor, labels: Tensor, options?: DiceOptions & { smooth?: number }) => Tensor = defineOp({
  name: 'dice_loss',
  family: 'losses',
  forward: (probs: Tensor, labels: Tensor, options: DiceOptions & { smooth?: number } = {}) => {
    const v = labelledView(probs, labels, 'diceLoss');
    const { out, alpha, beta } = scope(() => {
      const terms = diceTerms(probs, labels, v, options.weight, 'diceLoss');
      const dice = presentDice(terms, options.smooth ?? 1e-10);
      return { out: sum(mul(dice.loss, terms.factor)), alpha: dice.alpha, beta: dice.beta };
    });
    const held = hold(probs, labels);
    return {
      out,
      inputs: [probs],
      saved: [alpha, beta, ...held],
      vjp: (g) => [diceGradient(held[0], held[1], v, mul(alpha, g), mul(beta, g))],
    };
  },
  gradcheck: [
    {
      label: '2x3x5 probabilities, smooth 1e-5',
      inputs: () => [softmax(randn([2, 3, 5], 0, 1)), fromArray(new Int32Array([0, 1, 1, 2, 0, 2, 2, 1, 0, 0]), [2, 5])],
      fn: (p, y) => diceLoss(p, y!, { smooth: 1e-5, weight: [1, 2, 0.5] }),
      wrt: [0],
      eps: 1e-3,
    },
  ],
});

/**
 * GA Dice (method-spec §4, loss_amos.py `GADice`): per class over the batch, a class present in
 * the labels gives 1 − (2Σp·t + 1e-10)/(Σp² + Σt² + 1e-10); an absent class gives Σ sg(p/N)·p
 * with N = Σ(1 − t) (the number of voxels), whose gradient is p/N. Averaged over all C classes,
 * background included.
 */
export const gaDiceLoss: (probs: Tensor, labels: Tensor, options?: DiceOptions) => Tensor = defineOp({
  name: 'ga_dice_loss',
  family: 'losses',
  forward: (probs: Tensor, labels: Tensor, options: DiceOptions = {}) => {
    const v = labelledView(probs, labels, 'gaDiceLoss');
    const { out, alpha, beta } = scope(() => {
      const terms = diceTerms(probs, labels, v, options.weight, 'gaDiceLoss');
      const dice = presentDice(terms, 1e-10);
      const present = gt(terms.counts, 0);
      const voxels = sub(full([], v.outer * v.inner), terms.counts);
      const perClass = where(present, dice.loss, div(terms.squares, voxels));
      return {
        out: sum(mul(perClass, terms.factor)),
        alpha: where(present, dice.alpha, full([], 0)),
        beta: where(present, dice.beta, div(terms.factor, voxels)),
      };
    });
    const held = hold(probs, labels);
    return {
      out,
      inputs: [probs],
      saved: [alpha, beta, ...held],
      vjp: (g) => [diceGradient(held[0], held[1], v, mul(alpha, g), mul(beta, g))],
    };
  },
  gradcheck: [
    {
      // Finite differences see d(p²/N)/dp = 2p/N for the absent class, the stop-gradient p/N. The
      // detached term (p − p₀)·p/(C·N), zero at the check point, makes the numeric derivative the
      // stop-gradient one, so this checks both branches exactly.
      label: '2x4x5, class 3 absent: sg(p/N)·p has gradient p/N',
      inputs: () => {
        const p = softmax(randn([2, 4, 5], 0, 1));
        return [p, copy(p), fromArray(new Int32Array([0, 1, 1, 2, 0, 2, 2, 1, 0, 0]), [2, 5])];
      },
      fn: (p, p0, y) => {
        const absent = (t: Tensor) => slice(t, [null, [3, 4]]);
        const frozen = sum(mul(sub(absent(p), absent(p0!)), absent(p)));
        return sub(gaDiceLoss(p, y!), detach(mul(frozen, 1 / (4 * 10))));
      },
      wrt: [0],
      eps: 1e-3,
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// GA cross-entropy.

export interface GaCrossEntropyOptions {
  /** Percentage of voxels kept (upstream k = 10: K = ⌊n·k/100⌋). */
  percent?: number;
  /** γ (upstream `gama` = 0.5). */
  gamma?: number;
}

/**
 * Σ_c Σ_{i∈topK, y_i=c} v_i / ((n_c + 1e-10)^(1−γ)·K^γ + 1e-10) over values [B, ...S] and labels
 * [B, ...S], where topK are the K = ⌊n·percent/100⌋ largest values (ties: lowest index first)
 * and n_c counts class c inside them (method-spec §4, loss_amos.py `GACE`, including its final
 * +1e-10). The gradient flows to the selected values only (the selection and n_c are constants).
 */
export const classBalancedTopKSum: (values: Tensor, labels: Tensor, classes: number, options?: GaCrossEntropyOptions) => Tensor = defineOp({
  name: 'class_balanced_topk_sum',
  family: 'losses',
  forward: (values: Tensor, labels: Tensor, classes: number, options: GaCrossEntropyOptions = {}) => {
    values.live();
    labels.live();
    if (values.dtype !== 'f32' || labels.dtype !== 'i32' || values.size !== labels.size) {
      throw new TakError(`classBalancedTopKSum needs f32 values and i32 labels of equal size, got ${values}, ${labels}`);
    }
    if (!Number.isInteger(classes) || classes < 1) throw new TakError(`classBalancedTopKSum: classes must be a positive integer, got ${classes}`);
    const percent = options.percent ?? 10;
    const gamma = options.gamma ?? 0.5;
    const n = values.size;
    const k = Math.floor((n * percent) / 100);
    const { out, state, coef } = scope(() => {
      const state = radixSelect(values, k);
      const sums = reshape(classSums(SUMS.selected, values, labels, { outer: 1, c: classes, inner: n }, state), [3 * classes]);
      const counts = slice(sums, [[classes, 2 * classes]]);
      const coef = reciprocal(add(mul(powScalar(add(counts, 1e-10), 1 - gamma), k ** gamma), 1e-10));
      return { out: sum(mul(slice(sums, [[0, classes]]), coef)), state, coef };
    });
    const held = hold(values, labels);
    return {
      out,
      inputs: [values],
      saved: [state, coef, ...held],
      vjp: (g) => [selectedClassWeights(held[0], held[1], state, mul(coef, g), classes)],
    };
  },
  gradcheck: [
    {
      // Values spaced 0.1 apart (eps 1e-3 never reorders them): checks the gradient of exactly
      // the selected set (K = 3 of 30) and zero elsewhere.
      label: '30 values, K = 3, 3 classes',
      inputs: () => [spacedValues(30), fromArray(Int32Array.from({ length: 30 }, (_, i) => (i * 7) % 3))],
      fn: (x, y) => classBalancedTopKSum(x, y!, 3),
      wrt: [0],
      eps: 1e-3,
    },
    {
      label: '2x20 values, 40 %, γ 0.3, an unlabelled voxel selected',
      inputs: () => [reshape(spacedValues(40), [2, 20]), fromArray(Int32Array.from({ length: 40 }, (_, i) => (i % 9 === 0 ? -1 : i % 4)), [2, 20])],
      fn: (x, y) => classBalancedTopKSum(x, y!, 4, { percent: 40, gamma: 0.3 }),
      wrt: [0],
      eps: 1e-3,
    },
  ],
});

/** Distinct values 0.1·π(i) + U(0, 0.01) for a random permutation π (gradcheck inputs). */
function spacedValues(n: number): Tensor {
  const noise = rand([n], 0, 0.01);
  const order = Array.from({ length: n }, (_, i) => (i * 17 + 5) % n);
  const steps = fromArray(Float32Array.from(order, (o) => 0.1 * o));
  const out = add(steps, noise);
  steps.dispose();
  noise.dispose();
  return out;
}

/**
 * GA cross-entropy (method-spec §4, loss_amos.py `GACE`): voxelwise CE of logits [B, C, ...S]
 * against labels [B, ...S] (ignore index −100), top 10 % kept, class-balanced by the counts
 * inside the top K with γ = 0.5.
 */
export type GaCrossEntropyFn = (logits: Tensor, labels: Tensor, options?: GaCrossEntropyOptions & { ignoreIndex?: number }) => Tensor;

export const gaCrossEntropy: GaCrossEntropyFn = defineComposite(
  'ga_cross_entropy',
  'losses',
  (logits: Tensor, labels: Tensor, options: GaCrossEntropyOptions & { ignoreIndex?: number } = {}): Tensor => {
    const ce = voxelCrossEntropy(logits, labels, { ignoreIndex: options.ignoreIndex ?? -100 });
    const out = classBalancedTopKSum(ce, labels, logits.shape[1]!, options);
    ce.dispose();
    return out;
  },
  [
    {
      // The label logit steps down voxel by voxel, so the per-voxel losses are ≥ 0.3 apart and the
      // top-K set cannot change under the finite-difference step.
      label: '1x3x20 logits, 30 %',
      inputs: () => [separatedLogits(3, 20), fromArray(Int32Array.from({ length: 20 }, (_, i) => (i * 5) % 3), [1, 20])],
      fn: (x: Tensor, y?: Tensor): Tensor => gaCrossEntropy(x, y!, { percent: 30 }),
      wrt: [0],
    },
  ],
);

/** Logits [1, C, n] whose CE against labels (i·5) mod C grows by ~0.3 per voxel. */
function separatedLogits(c: number, n: number): Tensor {
  const noise = randn([1, c, n], 0, 0.05);
  const base = new Float32Array(c * n);
  for (let i = 0; i < n; i++) base[((i * 5) % c) * n + i] = 3 - 0.3 * ((i * 11) % n);
  const offsets = fromArray(base, [1, c, n]);
  const out = add(offsets, noise);
  offsets.dispose();
  noise.dispose();
  return out;
}
