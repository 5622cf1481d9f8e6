import { engine } from '../gpu/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { outerRuns, runBinding } from './chunks.js';
import { reshape, slice } from './shape.js';

/**
 * Dispatch helpers for kernels/norm.wgsl: x is viewed as `rows` rows of length `r` (one (n, c)
 * plane each); per-row coefficients are indexed by row % coefRows ((n, c) rows for instance and
 * group norm, channels for batch norm). Long rows are reduced in chunks by many workgroups.
 */

const enum Mode {
  Stats = 0,
  Apply = 2,
  Sums = 3,
  Grad = 4,
}

const CHUNK = 2048;

function chunkOf(r: number): number {
  return Math.min(CHUNK, Math.ceil(r / 32) * 32);
}

export interface RowLayout {
  rows: number;
  r: number;
  coefRows: number;
  /** Channels C: a row (or coefficient row) belongs to channel row % C. */
  channels: number;
}

interface Inputs {
  /** Primary input: x (stats, apply) or dy (sums, grad). */
  x: Tensor;
  /** x for sums/grad; the residual for apply. */
  u?: Tensor | null;
  coef?: Tensor;
  /** Grad with a fused ReLU: the forward coefficients, for the mask (x − μ)·a + b > 0. */
  f?: Tensor | null;
}

/** One chunked dispatch per run of rows that fits the binding limit. */
function rowDispatch(mode: Mode, layout: RowLayout, inputs: Inputs, out: Tensor, relu: boolean): void {
  const { rows, r } = layout;
  const chunk = chunkOf(r);
  const chunks = chunksOf(r);
  const vec = r % 4 === 0;
  const e = engine();
  const kernel = e.kernel({ file: 'norm', constants: { MODE: mode, VEC: vec, RELU: relu, RESIDUAL: mode === Mode.Apply && Boolean(inputs.u) } });
  const elementwise = mode === Mode.Apply || mode === Mode.Grad;
  const perRow = [r, ...(inputs.u ? [r] : []), ...(elementwise ? [r] : [])];
  for (const run of outerRuns('normalization', rows, perRow)) {
    const bind = (t: Tensor | null | undefined, writable = false) => (t ? runBinding(t, run, r) : e.standIn(writable));
    const outRef = elementwise ? runBinding(out, run, r) : out.binding;
    const vecOut = elementwise && vec;
    const yz = [Math.min(run.count, 65535), Math.ceil(run.count / 65535)];
    e.dispatch(
      kernel,
      {
        x4: bind(inputs.x), x1: bind(inputs.x), u4: bind(inputs.u), u1: bind(inputs.u),
        c: inputs.coef ? inputs.coef.binding : e.standIn(false), f: inputs.f ? inputs.f.binding : e.standIn(false),
        out4: vecOut ? outRef : e.standIn(true), out1: vecOut ? e.standIn(true) : outRef,
      },
      {
        rows: run.count, r, chunk, chunks, coef_rows: layout.coefRows, row_offset: run.start,
      },
      [chunks, yz[0]!, yz[1]!],
    );
  }
}

function chunksOf(r: number): number {
  return Math.ceil(r / chunkOf(r));
}

/** Per-row partial sums [rows, chunks, 4], one per chunk (norm_coef sums them in order). */
function rowPartials(mode: Mode.Stats | Mode.Sums, layout: RowLayout, inputs: Inputs, relu: boolean): Tensor {
  const partial = Tensor.empty([layout.rows, chunksOf(layout.r), 4]);
  rowDispatch(mode, layout, inputs, partial, relu);
  return partial;
}

export interface Grouping {
  groups: number;
  rowsPerGroup: number;
  groupStep: number;
  rowStep: number;
}

/** The affine parameters of a norm, per channel (absent: γ = 1, β = 0). */
export interface Affine {
  weight: Tensor | null;
  bias: Tensor | null;
}

/**
 * One dispatch of kernels/norm_coef.wgsl: per statistics group, the rows' chunk partials →
 * coefficient rows (and, when `stats` is given, (μ, σ²) per group).
 */
function coefDispatch(
  mode: 0 | 1, partials: Tensor, forward: Tensor | null, layout: RowLayout, grouping: Grouping, affine: Affine, eps: number, stats: Tensor | null,
): Tensor {
  const coef = Tensor.empty([layout.coefRows, 4]);
  const { weight: gamma, bias: beta } = affine;
  const e = engine();
  const kernel = e.kernel({
    file: 'norm_coef',
    constants: { MODE: mode, GAMMA: Boolean(gamma), BETA: Boolean(beta), PER_ROW: layout.coefRows === layout.rows, STATS: Boolean(stats) },
  });
  const workgroups = Math.ceil(grouping.groups / 64);
  e.dispatch(
    kernel,
    {
      partials: partials.binding, f: forward ? forward.binding : e.standIn(false), gamma: gamma ? gamma.binding : e.standIn(false), beta: beta ? beta.binding : e.standIn(false),
      c: coef.binding, stats: stats ? stats.binding : e.standIn(true),
    },
    {
      groups: grouping.groups, rows_per_group: grouping.rowsPerGroup, group_step: grouping.groupStep, row_step: grouping.rowStep,
      channels: layout.channels, r: layout.r, eps, group_size: grouping.rowsPerGroup * layout.r, chunks: chunksOf(layout.r),
    },
    [Math.min(workgroups, 65535), Math.ceil(workgroups / 65535)],
  );
  return coef;
}

/**
 * Statistics of x's rows grouped by `grouping` → forward coefficients [coefRows, 4] =
 * (μ, rstd·γ, β, rstd) for applyRows (and gradSums/gradCoefficients in the backward); `stats`
 * [groups, 2], when given, receives (μ, biased σ²).
 */
export function normCoefficients(x: Tensor, layout: RowLayout, grouping: Grouping, affine: Affine, eps: number, stats: Tensor | null = null): Tensor {
  const partials = rowPartials(Mode.Stats, layout, { x }, false);
  const coef = coefDispatch(0, partials, null, layout, grouping, affine, eps, stats);
  partials.dispose();
  return coef;
}

/**
 * The training-mode VJP coefficients (μ, p, q, s) for gradApply from the (Σ g, Σ g·x̂) chunk
 * partials of gradPartials and the forward coefficients.
 */
export function gradCoefficients(partials: Tensor, forward: Tensor, layout: RowLayout, grouping: Grouping, affine: Affine): Tensor {
  return coefDispatch(1, partials, forward, layout, grouping, affine, 0, null);
}

/** y = (x − μ)·a + b per row' (coef [coefRows, 4] = (μ, a, b, 0)), optionally ReLU, then + residual. */
export function applyRows(x: Tensor, layout: RowLayout, coef: Tensor, relu: boolean, residual: Tensor | null = null): Tensor {
  const y = Tensor.empty(x.shape);
  rowDispatch(Mode.Apply, layout, { x, coef, u: residual }, y, relu);
  return y;
}

/**
 * (Σ g, Σ g·x̂, 0, 0) per chunk of each row, [rows, chunks, 4], with x̂ = (x − μ)·rstd, the
 * forward coefficients coef = (μ, a, b, rstd), g = dy·[(x − μ)·a + b > 0] if relu (sum over
 * axis 1 for per-row sums).
 */
export function gradPartials(dy: Tensor, x: Tensor, relu: boolean, layout: RowLayout, coef: Tensor): Tensor {
  return rowPartials(Mode.Sums, layout, { x: dy, u: x, coef }, relu);
}

/**
 * dx = p·g + q·(x − μ) + s per row' (coef = (μ, p, q, s)), g = dy·[(x − μ)·a + b > 0] when the
 * forward coefficients (μ, a, b, ·) of a fused ReLU are given.
 */
export function gradApply(dy: Tensor, x: Tensor, reluForward: Tensor | null, layout: RowLayout, coef: Tensor): Tensor {
  const dx = Tensor.empty(x.shape);
  rowDispatch(Mode.Grad, layout, { x: dy, u: x, coef, f: reluForward }, dx, Boolean(reluForward));
  return dx;
}

/** The first two columns of a [rows, 2 or 4] statistics tensor as [rows] tensors. */
export function columns(t: Tensor): [Tensor, Tensor] {
  const a = slice(t, [null, [0, 1]]);
  const b = slice(t, [null, [1, 2]]);
  const ra = reshape(a, [t.shape[0]!]);
  const rb = reshape(b, [t.shape[0]!]);
  a.dispose();
  b.dispose();
  return [ra, rb];
}
