import { engine } from '../gpu/engine.js';
import { Tensor, numel, scope } from '../tensor/tensor.js';
import { fromArray, ones, randn, zeros } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { add, affine, mul, reciprocal, sqrt } from './elementwise.js';
import { defineOp, type GradcheckCase } from './registry.js';
import { sum } from './reduce.js';
import { expand, reshape, stack } from './shape.js';
import { applyRows, columns, gradApply, gradSums, groupStats, type Grouping, type RowLayout } from './norm-kernels.js';

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

function checkChannelParam(t: Tensor | null | undefined, channels: number, what: string, op: string): void {
  if (!t) return;
  t.live();
  if (t.ndim !== 1 || t.shape[0] !== channels || t.dtype !== 'f32') {
    throw new TakError(`${op}: ${what} must be an f32 tensor of shape [${channels}], got ${t.dtype}${show([...t.shape])}`);
  }
}

/** A per-channel [C] tensor broadcast over [rows / C, C] and flattened to [rows]. */
function perRow(channel: Tensor, rows: number): Tensor {
  const c = channel.shape[0]!;
  return reshape(expand(reshape(channel, [1, c]), [rows / c, c]), [rows]);
}

/** Per-group values [N·G] repeated over the C/G channels of each group → [N·C]. */
function groupToRows(v: Tensor, groups: number, perGroup: number): Tensor {
  return reshape(expand(reshape(v, [groups, 1]), [groups, perGroup]), [groups * perGroup]);
}

/** Per-row' coefficient vectors [rows', 4] for kernels/norm.wgsl (missing ones are zero). */
function coefficients(...columns: Tensor[]): Tensor {
  const all = [...columns];
  while (all.length < 4) all.push(zeros(columns[0]!.shape));
  return stack(all, 1);
}

interface Normalized {
  out: Tensor;
  /** Per coefficient-row mean and rstd of the statistics used. */
  mean: Tensor;
  rstd: Tensor;
}

/** y = (x − mean)·(rstd·γ) + β (+ ReLU) with per-row' mean/rstd/γ/β [coefRows]. */
function normalize(x: Tensor, layout: RowLayout, mean: Tensor, rstd: Tensor, gamma: Tensor | null, beta: Tensor | null, relu: boolean): Tensor {
  const coef = scope(() => coefficients(mean, gamma ? mul(rstd, gamma) : rstd, beta ?? zeros(mean.shape)));
  const y = applyRows(x, layout, coef, relu);
  coef.dispose();
  return y;
}

/**
 * The training-mode VJP for statistics taken over groups of rows. `toRows` maps per-group
 * [groups] values to per-coefficient-row values, `rowsToChannels` sums [rows] to [C] and
 * `rowsToGroups` sums per-row values to groups.
 */
function trainingVjp(
  g: Tensor, x: Tensor, y: Tensor | null, layout: RowLayout, st: Normalized, gamma: Tensor | null, channels: number, groupSize: number,
  rowsToGroups: (v: Tensor) => Tensor, toCoefRows: (v: Tensor) => Tensor,
): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  const sums = gradSums(g, x, y, layout, coefficients(st.mean, st.rstd));
  const [sg, sgx] = columns(sums);
  const byChannel = (v: Tensor) => sum(reshape(v, [layout.rows / channels, channels]), 0);
  const dbeta = byChannel(sg);
  const dgamma = byChannel(sgx);
  const gammaRows = gamma ? perRow(gamma, layout.rows) : ones([layout.rows]);
  // Group means of γ·g and γ·g·x̂, brought to the coefficient rows.
  const a = toCoefRows(affine(rowsToGroups(mul(gammaRows, sg)), 1 / groupSize));
  const b = toCoefRows(affine(rowsToGroups(mul(gammaRows, sgx)), 1 / groupSize));
  const gammaCoef = gamma ? (layout.coefRows === channels ? gamma : perRow(gamma, layout.coefRows)) : ones([layout.coefRows]);
  const rstd2 = mul(st.rstd, st.rstd);
  const p = mul(st.rstd, gammaCoef);
  const q = affine(mul(rstd2, b), -1);
  const s = affine(mul(st.rstd, a), -1);
  const dx = gradApply(g, x, y, layout, coefficients(st.mean, p, q, s));
  return { dx, dgamma, dbeta };
}

function rstdOf(variance: Tensor, eps: number): Tensor {
  return reciprocal(sqrt(affine(variance, 1, eps)));
}

// ---------------------------------------------------------------------------------------------
// Instance and group norm: statistics per (n, group) over C/G channels × spatial.

function groupNormImpl(x: Tensor, groups: number, options: NormOptions, op: string) {
  checkInput(x, op, 3);
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new TakError(`${op}: ${c} channels cannot be split into ${groups} groups`);
  }
  const { weight = null, bias = null, eps = 1e-5, relu = false } = options;
  checkChannelParam(weight, c, 'weight', op);
  checkChannelParam(bias, c, 'bias', op);
  const perGroup = c / groups;
  const layout: RowLayout = { rows: n * c, r: numel(x.shape.slice(2)), coefRows: n * c };
  const grouping: Grouping = { groups: n * groups, rowsPerGroup: perGroup, groupStep: perGroup, rowStep: 1 };
  const st = scope(() => {
    const [mean, variance] = columns(groupStats(x, layout, grouping));
    return { mean: groupToRows(mean, n * groups, perGroup), rstd: groupToRows(rstdOf(variance, eps), n * groups, perGroup) };
  });
  const gammaRows = weight ? perRow(weight, n * c) : null;
  const betaRows = bias ? perRow(bias, n * c) : null;
  const out = normalize(x, layout, st.mean, st.rstd, gammaRows, betaRows, relu);
  gammaRows?.dispose();
  betaRows?.dispose();
  const saved = [st.mean, st.rstd, ...(relu ? [Tensor.view(out, out.shape)] : [])];
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return {
    out,
    inputs,
    saved,
    vjp: (g: Tensor) => {
      const y = relu ? saved[2]! : null;
      const rowsToGroups = (v: Tensor) => sum(reshape(v, [n * groups, perGroup]), 1);
      const toRows = (v: Tensor) => groupToRows(v, n * groups, perGroup);
      const r = trainingVjp(g, x, y, layout, { out, mean: st.mean, rstd: st.rstd }, weight, c, perGroup * layout.r, rowsToGroups, toRows);
      return [x.requiresGrad ? r.dx : null, ...(weight ? [r.dgamma] : []), ...(bias ? [r.dbeta] : [])];
    },
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
    const { weight = null, bias = null, eps = 1e-5, relu = false, runningMean = null, runningVar = null, training = true, momentum = 0.1 } = options;
    checkChannelParam(weight, c, 'weight', 'batchNorm');
    checkChannelParam(bias, c, 'bias', 'batchNorm');
    checkChannelParam(runningMean, c, 'runningMean', 'batchNorm');
    checkChannelParam(runningVar, c, 'runningVar', 'batchNorm');
    const layout: RowLayout = { rows: n * c, r: numel(x.shape.slice(2)), coefRows: c };
    const count = n * layout.r;
    let st: { mean: Tensor; rstd: Tensor };
    if (training) {
      if (count < 2) throw new TakError(`batchNorm: expected more than 1 value per channel when training, got input ${show([...x.shape])}`);
      st = scope(() => {
        const [mean, variance] = columns(groupStats(x, layout, { groups: c, rowsPerGroup: n, groupStep: 1, rowStep: c }));
        if (runningMean && runningVar) {
          // PyTorch: running = (1 − momentum)·running + momentum·batch (unbiased variance).
          const e = engine();
          const m = add(affine(runningMean, 1 - momentum), affine(mean, momentum));
          const v = add(affine(runningVar, 1 - momentum), affine(variance, (momentum * count) / (count - 1)));
          e.copy(m.buffer, m.byteOffset, runningMean.buffer, runningMean.byteOffset, m.byteLength);
          e.copy(v.buffer, v.byteOffset, runningVar.buffer, runningVar.byteOffset, v.byteLength);
        }
        return { mean, rstd: rstdOf(variance, eps) };
      });
    } else {
      if (!runningMean || !runningVar) throw new TakError('batchNorm: evaluation mode (training: false) needs runningMean and runningVar');
      st = scope(() => ({ mean: Tensor.view(runningMean, [c]), rstd: rstdOf(runningVar, eps) }));
    }
    const out = normalize(x, layout, st.mean, st.rstd, weight, bias, relu);
    const saved = [st.mean, st.rstd, ...(relu ? [Tensor.view(out, out.shape)] : [])];
    return {
      out,
      inputs: [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])],
      saved,
      vjp: (g: Tensor) => {
        const y = relu ? saved[2]! : null;
        if (training) {
          const rowsToGroups = (v: Tensor) => sum(reshape(v, [n, c]), 0);
          const r = trainingVjp(g, x, y, layout, { out, mean: st.mean, rstd: st.rstd }, weight, c, count, rowsToGroups, (v) => v);
          return [x.requiresGrad ? r.dx : null, ...(weight ? [r.dgamma] : []), ...(bias ? [r.dbeta] : [])];
        }
        // Running statistics are constants: y = scale·x + shift.
        const [sg, sgx] = columns(gradSums(g, x, y, layout, coefficients(st.mean, st.rstd)));
        const byChannel = (v: Tensor) => sum(reshape(v, [n, c]), 0);
        const scale = weight ? mul(st.rstd, weight) : st.rstd;
        const dx = gradApply(g, x, y, layout, coefficients(st.mean, scale));
        return [x.requiresGrad ? dx : null, ...(weight ? [byChannel(sgx)] : []), ...(bias ? [byChannel(sg)] : [])];
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
