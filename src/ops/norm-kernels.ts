import { engine, type BufferRef } from '../gpu/engine.js';
import { Tensor, keep } from '../tensor/tensor.js';
import { outerRuns, runBinding } from './chunks.js';
import { sum } from './reduce.js';
import { reshape, slice } from './shape.js';

/**
 * Dispatch helpers for kernels/norm.wgsl: x is viewed as `rows` rows of length `r` (one (n, c)
 * plane each); per-row coefficients are indexed by row % coefRows ((n, c) rows for instance and
 * group norm, channels for batch norm). Long rows are reduced in chunks by many workgroups.
 */

const enum Mode {
  Stats = 0,
  Combine = 1,
  Apply = 2,
  Sums = 3,
  Grad = 4,
}

const CHUNK = 2048;

function chunkOf(r: number): number {
  return Math.min(CHUNK, Math.ceil(r / 32) * 32);
}

const dummies: (Tensor | null)[] = [null, null];
function unused(writable: boolean): BufferRef {
  const i = writable ? 1 : 0;
  let t = dummies[i];
  if (!t || t.isDisposed) {
    t = keep(Tensor.empty([4]));
    dummies[i] = t;
  }
  return t.binding;
}

export interface RowLayout {
  rows: number;
  r: number;
  coefRows: number;
}

interface Inputs {
  /** Primary input: x (stats, apply) or dy (sums, grad). */
  x: Tensor;
  /** x for sums/grad. */
  u?: Tensor;
  /** y for the ReLU mask of dy. */
  m?: Tensor | null;
  coef?: Tensor;
}

/** One chunked dispatch per run of rows that fits the binding limit. */
function rowDispatch(mode: Mode, layout: RowLayout, inputs: Inputs, out: Tensor, relu: boolean): void {
  const { rows, r } = layout;
  const chunk = chunkOf(r);
  const chunks = Math.ceil(r / chunk);
  const vec = r % 4 === 0;
  const e = engine();
  const kernel = e.kernel({ file: 'norm', constants: { MODE: mode, VEC: vec, RELU: relu } });
  const elementwise = mode === Mode.Apply || mode === Mode.Grad;
  const perRow = [r, ...(inputs.u ? [r] : []), ...(inputs.m ? [r] : []), ...(elementwise ? [r] : [])];
  for (const run of outerRuns('normalization', rows, perRow)) {
    const bind = (t: Tensor | null | undefined, writable = false) => (t ? runBinding(t, run, r) : unused(writable));
    const outRef = elementwise ? runBinding(out, run, r) : out.binding;
    const vecOut = elementwise && vec;
    const yz = [Math.min(run.count, 65535), Math.ceil(run.count / 65535)];
    e.dispatch(
      kernel,
      {
        x4: bind(inputs.x), x1: bind(inputs.x), u4: bind(inputs.u), u1: bind(inputs.u), m4: bind(inputs.m), m1: bind(inputs.m),
        c: inputs.coef ? inputs.coef.binding : unused(false),
        out4: vecOut ? outRef : unused(true), out1: vecOut ? unused(true) : outRef,
      },
      {
        rows: run.count, r, chunk, chunks, coef_rows: layout.coefRows, groups: 0, rows_per_group: 0, group_step: 0, row_step: 0,
        row_offset: run.start,
      },
      [chunks, yz[0]!, yz[1]!],
    );
  }
}

/** Per-row partial sums [rows, chunks, 4] summed over chunks (in order) → [rows, 4]. */
function rowSums(mode: Mode.Stats | Mode.Sums, layout: RowLayout, inputs: Inputs, relu: boolean): Tensor {
  const chunks = Math.ceil(layout.r / chunkOf(layout.r));
  const partial = Tensor.empty([layout.rows, chunks, 4]);
  rowDispatch(mode, layout, inputs, partial, relu);
  const sums = sum(partial, 1);
  partial.dispose();
  return sums;
}

export interface Grouping {
  groups: number;
  rowsPerGroup: number;
  groupStep: number;
  rowStep: number;
}

/** (mean, biased variance) [groups, 2] of x's rows grouped by `grouping`. */
export function groupStats(x: Tensor, layout: RowLayout, grouping: Grouping): Tensor {
  const sums = rowSums(Mode.Stats, layout, { x }, false);
  const stats = Tensor.empty([grouping.groups, 2]);
  const e = engine();
  const kernel = e.kernel({ file: 'norm', constants: { MODE: Mode.Combine, VEC: true, RELU: false } });
  const workgroups = Math.ceil(grouping.groups / 8);
  e.dispatch(
    kernel,
    {
      x4: unused(false), x1: unused(false), u4: sums.binding, u1: sums.binding, m4: unused(false), m1: unused(false), c: unused(false),
      out4: unused(true), out1: stats.binding,
    },
    {
      rows: layout.rows, r: layout.r, chunk: 0, chunks: 0, coef_rows: 1, groups: grouping.groups, rows_per_group: grouping.rowsPerGroup,
      group_step: grouping.groupStep, row_step: grouping.rowStep, row_offset: 0,
    },
    [Math.min(workgroups, 65535), Math.ceil(workgroups / 65535)],
  );
  sums.dispose();
  return stats;
}

/** y = (x − μ)·a + b per row' (coef [coefRows, 4] = (μ, a, b, 0)), optionally ReLU. */
export function applyRows(x: Tensor, layout: RowLayout, coef: Tensor, relu: boolean): Tensor {
  const y = Tensor.empty(x.shape);
  rowDispatch(Mode.Apply, layout, { x, coef }, y, relu);
  return y;
}

/** (Σ g, Σ g·x̂) [rows, 2] with x̂ = (x − μ)·rstd, coef = (μ, rstd, ·, ·), g = dy·[y > 0] if relu. */
export function gradSums(dy: Tensor, x: Tensor, y: Tensor | null, layout: RowLayout, coef: Tensor): Tensor {
  const sums = rowSums(Mode.Sums, layout, { x: dy, u: x, m: y, coef }, Boolean(y));
  const out = slice(sums, [null, [0, 2]]);
  sums.dispose();
  return out;
}

/** dx = p·g + q·(x − μ) + s per row' (coef = (μ, p, q, s)), g = dy·[y > 0] if y is given. */
export function gradApply(dy: Tensor, x: Tensor, y: Tensor | null, layout: RowLayout, coef: Tensor): Tensor {
  const dx = Tensor.empty(x.shape);
  rowDispatch(Mode.Grad, layout, { x: dy, u: x, m: y, coef }, dx, Boolean(y));
  return dx;
}

/** Columns of a [rows, 2] statistics tensor as [rows] tensors. */
export function columns(t: Tensor): [Tensor, Tensor] {
  const a = slice(t, [null, [0, 1]]);
  const b = slice(t, [null, [1, 2]]);
  const ra = reshape(a, [t.shape[0]!]);
  const rb = reshape(b, [t.shape[0]!]);
  a.dispose();
  b.dispose();
  return [ra, rb];
}
