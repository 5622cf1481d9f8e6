import { engine } from '../gpu/engine.js';
import { Tensor, numel, scope } from '../tensor/tensor.js';
import { fromArray, ones, randn, zeros } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { add, affine as affine_, mul, reciprocal, sqrt } from './elementwise.js';
import { defineOp, type GradcheckCase } from './registry.js';
import { sum } from './reduce.js';
import { concat, reshape, slice, stack } from './shape.js';
import { applyRows, columns, gradApply, gradCoefficients, gradPartials, normCoefficients, type Affine, type Grouping, type RowLayout } from './norm-kernels.js';

/**
 * Instance, group and batch normalisation with PyTorch's semantics (biased variance for
 * normalising, eps inside the square root, BatchNorm's running statistics with the unbiased
 * variance and momentum 0.1): x [N, C, ...spatial]. Statistics are two-stage chunked reductions
 * (kernels/norm.wgsl); `relu` fuses the ReLU that follows every norm in V-Net.
 *
 * VJP for the training-mode forms (per group, M elements, x̂ = (x − μ)·rstd, g = dy masked by ReLU):
 *   dβ_c = Σ g, dγ_c = Σ g·x̂, dx = rstd·(γ_c·g − mean_group(γ·g) − x̂·mean_group(γ·g·x̂)),
 * evaluated as dx = p·g + q·(x − μ) + s with per-(n, c) or per-channel coefficients.
 */

export interface NormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
  relu?: boolean;
  /**
   * Added to the result (after the ReLU): y = relu(norm(x)) + residual, x's shape. V-Net's decoder
   * adds the skip connection after the up block's norm; fused, that is one pass over the
   * activation fewer. Its gradient is dy itself.
   */
  residual?: Tensor | null;
}

export interface BatchNormOptions extends NormOptions {
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training?: boolean;
  momentum?: number;
}

function checkInput(x: Tensor, op: string, minRank: number): void {
  x.live();
  if (x.dtype !== 'f32' || x.ndim < minRank) throw new TakError(`${op}: input must be an f32 tensor of rank >= ${minRank}, got ${x.dtype}${show([...x.shape])}`);
}

function checkResidual(residual: Tensor | null, x: Tensor, op: string): void {
  if (!residual) return;
  residual.live();
  if (residual.dtype !== 'f32' || residual.shape.length !== x.shape.length || residual.shape.some((d, i) => d !== x.shape[i])) {
    throw new TakError(`${op}: residual must be an f32 tensor of the input's shape ${show([...x.shape])}, got ${residual.dtype}${show([...residual.shape])}`);
  }
}

function checkChannelParam(t: Tensor | null | undefined, channels: number, what: string, op: string): void {
  if (!t) return;
  t.live();
  if (t.ndim !== 1 || t.shape[0] !== channels || t.dtype !== 'f32') {
    throw new TakError(`${op}: ${what} must be an f32 tensor of shape [${channels}], got ${t.dtype}${show([...t.shape])}`);
  }
}

/** Coefficient rows (μ, rstd·γ, β, rstd) from given statistics (batch norm's running ones). */
function coefficients(mean: Tensor, rstd: Tensor, { weight, bias }: Affine): Tensor {
  return scope(() => stack([mean, weight ? mul(rstd, weight) : rstd, bias ?? zeros(mean.shape), rstd], 1));
}

/**
 * The training-mode VJP with the forward coefficients `coef` of statistics grouped by `grouping`:
 * dx from kernels/norm_coef.wgsl's backward coefficients, dγ_c = Σ g·x̂ and dβ_c = Σ g per channel.
 */
function trainingVjp(
  g: Tensor, x: Tensor, relu: boolean, layout: RowLayout, grouping: Grouping, coef: Tensor, affine: Affine,
): { dx: Tensor; dgamma: Tensor | null; dbeta: Tensor | null } {
  const partials = gradPartials(g, x, relu, layout, coef);
  const dx = gradApply(g, x, relu ? coef : null, layout, gradCoefficients(partials, coef, layout, grouping, affine));
  if (!affine.weight && !affine.bias) return { dx, dgamma: null, dbeta: null };
  const [sg, sgx] = columns(sum(partials, 1));
  const byChannel = (v: Tensor) => sum(reshape(v, [layout.rows / layout.channels, layout.channels]), 0);
  return { dx, dgamma: affine.weight ? byChannel(sgx) : null, dbeta: affine.bias ? byChannel(sg) : null };
}

/** The op's inputs: x, then γ, β and the residual when given. */
function opInputs(x: Tensor, affine: Affine, residual: Tensor | null): Tensor[] {
  return [x, ...(affine.weight ? [affine.weight] : []), ...(affine.bias ? [affine.bias] : []), ...(residual ? [residual] : [])];
}

/** The op's gradients in its input order (opInputs); the residual's is dy (g) itself. */
function gradients(
  x: Tensor, affine: Affine, residual: Tensor | null, g: Tensor, r: { dx: Tensor; dgamma: Tensor | null; dbeta: Tensor | null },
): (Tensor | null)[] {
  return [
    x.requiresGrad ? r.dx : null, ...(affine.weight ? [r.dgamma] : []), ...(affine.bias ? [r.dbeta] : []), ...(residual ? [residual.requiresGrad ? g : null] : []),
  ];
}

// ---------------------------------------------------------------------------------------------
// Instance and group norm: statistics per (n, group) over C/G channels × spatial.

function groupNormImpl(x: Tensor, groups: number, options: NormOptions, op: string) {
  checkInput(x, op, 3);
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new TakError(`${op}: ${c} channels cannot be split into ${groups} groups`);
  }
  const { weight = null, bias = null, eps = 1e-5, relu = false, residual = null } = options;
  checkChannelParam(weight, c, 'weight', op);
  checkChannelParam(bias, c, 'bias', op);
  checkResidual(residual, x, op);
  const perGroup = c / groups;
  const layout: RowLayout = { rows: n * c, r: numel(x.shape.slice(2)), coefRows: n * c, channels: c };
  const grouping: Grouping = { groups: n * groups, rowsPerGroup: perGroup, groupStep: perGroup, rowStep: 1 };
  const affine: Affine = { weight, bias };
  const coef = normCoefficients(x, layout, grouping, affine, eps);
  const out = applyRows(x, layout, coef, relu, residual);
  return {
    out,
    inputs: opInputs(x, affine, residual),
    saved: [coef],
    vjp: (g: Tensor) => gradients(x, affine, residual, g, trainingVjp(g, x, relu, layout, grouping, coef, affine)),
  };
}

const normCases = (make: (x: Tensor, w?: Tensor, b?: Tensor) => Tensor, shape: number[], seed: number): GradcheckCase[] => {
  const c = shape[1]!;
  return [
    { label: `${shape.join('x')} affine`, inputs: () => [randn(shape, 0.5, 2, { seed }), randn([c], 1, 0.3, { seed: seed + 1 }), randn([c], 0, 1, { seed: seed + 2 })], fn: (x, w, b) => make(x, w, b) },
    { label: `${shape.join('x')} no affine`, inputs: () => [randn(shape, -1, 1, { seed: seed + 3 })], fn: (x) => make(x) },
  ];
};

/**
 * Fused ReLU: β = ±4 with γ = 1 keeps every output at least ~1.5 away from the kink (normalised
 * values of a few elements stay within ±2.5), so central differences are exact on both sides.
 */
const reluCase = (make: (x: Tensor, w: Tensor, b: Tensor) => Tensor, shape: number[], seed: number): GradcheckCase => {
  const c = shape[1]!;
  return {
    label: `${shape.join('x')} fused ReLU`,
    inputs: () => [randn(shape, 0, 1, { seed }), ones([c]), fromArray(Array.from({ length: c }, (_, i) => (i % 2 ? -4 : 4)))],
    fn: (x, w, b) => make(x, w, b),
    wrt: [0],
  };
};

type GroupNorm = (x: Tensor, groups: number, options?: NormOptions) => Tensor;
export const groupNorm: GroupNorm = defineOp({
  name: 'group_norm',
  family: 'norm',
  forward: (x: Tensor, groups: number, options: NormOptions = {}) => groupNormImpl(x, groups, options, 'groupNorm'),
  gradcheck: [
    ...normCases((x, w, b) => groupNorm(x, 2, { weight: w, bias: b }), [2, 4, 3, 5], 640),
    reluCase((x, w, b) => groupNorm(x, 2, { weight: w, bias: b, relu: true }), [2, 4, 2, 3], 645),
  ],
});

type InstanceNorm = (x: Tensor, options?: NormOptions) => Tensor;
export const instanceNorm3d: InstanceNorm = defineOp({
  name: 'instance_norm3d',
  family: 'norm',
  forward: (x: Tensor, options: NormOptions = {}) => {
    if (x.ndim !== 5) throw new TakError(`instanceNorm3d: input must have rank 5 [N, C, D, H, W], got ${show([...x.shape])}`);
    return groupNormImpl(x, x.shape[1]!, options, 'instanceNorm3d');
  },
  gradcheck: [
    ...normCases((x, w, b) => instanceNorm3d(x, { weight: w, bias: b }), [2, 3, 2, 3, 4], 650),
    reluCase((x, w, b) => instanceNorm3d(x, { weight: w, bias: b, relu: true }), [1, 2, 2, 2, 4], 655),
    {
      ...reluCase((x, w, b) => instanceNorm3d(x, { weight: w, bias: b, relu: true }), [1, 2, 2, 2, 4], 656),
      label: '1x2x2x2x4 fused ReLU + residual',
      inputs: () => [randn([1, 2, 2, 2, 4], 0, 1, { seed: 656 }), ones([2]), fromArray([4, -4]), randn([1, 2, 2, 2, 4], 0, 1, { seed: 657 })],
      fn: (x, w, b, r) => instanceNorm3d(x, { weight: w, bias: b, relu: true, residual: r }),
      wrt: [0, 3],
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Batch norm: statistics per channel over N × spatial.

type BatchNorm = (x: Tensor, options?: BatchNormOptions) => Tensor;
export const batchNorm: BatchNorm = defineOp({
  name: 'batch_norm',
  family: 'norm',
  forward: (x: Tensor, options: BatchNormOptions = {}) => {
    checkInput(x, 'batchNorm', 2);
    const [n, c] = [x.shape[0]!, x.shape[1]!];
    const { weight = null, bias = null, eps = 1e-5, relu = false, residual = null, runningMean = null, runningVar = null, training = true, momentum = 0.1 } = options;
    checkChannelParam(weight, c, 'weight', 'batchNorm');
    checkChannelParam(bias, c, 'bias', 'batchNorm');
    checkResidual(residual, x, 'batchNorm');
    checkChannelParam(runningMean, c, 'runningMean', 'batchNorm');
    checkChannelParam(runningVar, c, 'runningVar', 'batchNorm');
    const layout: RowLayout = { rows: n * c, r: numel(x.shape.slice(2)), coefRows: c, channels: c };
    const grouping: Grouping = { groups: c, rowsPerGroup: n, groupStep: 1, rowStep: c };
    const affine: Affine = { weight, bias };
    const count = n * layout.r;
    let coef: Tensor;
    if (training) {
      if (count < 2) throw new TakError(`batchNorm: expected more than 1 value per channel when training, got input ${show([...x.shape])}`);
      const stats = runningMean && runningVar ? Tensor.empty([c, 2]) : null;
      coef = normCoefficients(x, layout, grouping, affine, eps, stats);
      if (stats) {
        // PyTorch: running = (1 − momentum)·running + momentum·batch (unbiased variance).
        scope(() => {
          const [mean, variance] = columns(stats);
          const e = engine();
          const m = add(affine_(runningMean!, 1 - momentum), affine_(mean, momentum));
          const v = add(affine_(runningVar!, 1 - momentum), affine_(variance, (momentum * count) / (count - 1)));
          e.copy(m.buffer, m.byteOffset, runningMean!.buffer, runningMean!.byteOffset, m.byteLength);
          e.copy(v.buffer, v.byteOffset, runningVar!.buffer, runningVar!.byteOffset, v.byteLength);
        });
        stats.dispose();
      }
    } else {
      if (!runningMean || !runningVar) throw new TakError('batchNorm: evaluation mode (training: false) needs runningMean and runningVar');
      coef = scope(() => coefficients(Tensor.view(runningMean, [c]), reciprocal(sqrt(affine_(runningVar, 1, eps))), affine));
    }
    const out = applyRows(x, layout, coef, relu, residual);
    return {
      out,
      inputs: opInputs(x, affine, residual),
      saved: [coef],
      vjp: (g: Tensor) => {
        if (training) return gradients(x, affine, residual, g, trainingVjp(g, x, relu, layout, grouping, coef, affine));
        // Running statistics are constants: y = (x − μ)·rstd·γ + β, so dx = rstd·γ·g (coef as is).
        const [sg, sgx] = columns(sum(gradPartials(g, x, relu, layout, coef), 1));
        const byChannel = (v: Tensor) => sum(reshape(v, [n, c]), 0);
        const dx = gradApply(g, x, relu ? coef : null, layout, scope(() => concat([slice(coef, [null, [0, 2]]), zeros([c, 2])], 1)));
        return gradients(x, affine, residual, g, { dx, dgamma: weight ? byChannel(sgx) : null, dbeta: bias ? byChannel(sg) : null });
      },
    };
  },
  gradcheck: [
    ...normCases((x, w, b) => batchNorm(x, { weight: w, bias: b }), [3, 2, 2, 3, 2], 660),
    reluCase((x, w, b) => batchNorm(x, { weight: w, bias: b, relu: true }), [2, 2, 2, 2, 4], 665),
    {
      label: '3x2x5 eval (running statistics)',
      inputs: () => [randn([3, 2, 5], 0, 1, { seed: 666 }), randn([2], 1, 0.3, { seed: 667 }), randn([2], 0, 1, { seed: 668 })],
      fn: (x, w, b) => batchNorm(x, { weight: w, bias: b, training: false, runningMean: fromArray([0.5, -0.25]), runningVar: fromArray([2, 0.5]) }),
    },
  ],
});

/** BatchNorm1d: x [B, C] or [B, C, L] (the location head's 4096 features). */
export function batchNorm1d(x: Tensor, options: BatchNormOptions = {}): Tensor {
  if (x.ndim !== 2 && x.ndim !== 3) throw new TakError(`batchNorm1d: input must be [B, C] or [B, C, L], got ${show([...x.shape])}`);
  return batchNorm(x, options);
}
