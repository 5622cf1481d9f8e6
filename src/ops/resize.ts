import { engine, type BufferRef } from '../gpu/engine.js';
import { Tensor, keep, numel } from '../tensor/tensor.js';
import { fromArray, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineOp } from './registry.js';

/**
 * interpolate3d with PyTorch's semantics (torch.nn.functional.interpolate on [N, C, D, H, W]):
 * 'nearest' (legacy nearest: src = min(⌊dst·scale⌋, in − 1), used to down-sample label maps, any
 * 32-bit dtype) and 'trilinear' (align_corners false: src = max(scale·(dst + ½) − ½, 0); or true).
 * scale = 1/scaleFactor when a scale factor is given, in/out otherwise, all in float32 as
 * PyTorch's CPU kernels (UpSample.h: area_pixel_compute_source_index, nearest_idx) compute it.
 * Both modes are separable: one pass per axis (kernels/resize.wgsl), and the VJP runs the adjoint
 * passes in reverse order as gathers.
 */

export type Mode = 'nearest' | 'trilinear';
type Triple = [number, number, number];

export interface InterpolateOptions {
  size?: number | Triple;
  scaleFactor?: number | Triple;
  mode?: Mode;
  alignCorners?: boolean;
}

const f = Math.fround;

interface AxisPlan {
  axis: number;
  nIn: number;
  nOut: number;
  /** [nOut, 4]: (i0, i1, w0, w1). */
  table: Float32Array;
  /** [nIn, 2]: outputs [first, last) that read each input. */
  ranges: Uint32Array;
  identity: boolean;
}

/** PyTorch's per-axis source indices and weights. */
function planAxis(axis: number, nIn: number, nOut: number, scaleFactor: number | undefined, mode: Mode, alignCorners: boolean): AxisPlan {
  const table = new Float32Array(nOut * 4);
  const scale = scaleFactor !== undefined ? f(1 / scaleFactor) : f(nIn / nOut);
  for (let j = 0; j < nOut; j++) {
    let i0: number, i1: number, w1: number;
    if (mode === 'nearest') {
      i0 = nOut === nIn ? j : nOut === 2 * nIn ? j >> 1 : Math.min(Math.floor(f(j * scale)), nIn - 1);
      i1 = i0;
      w1 = 0;
    } else {
      const s = alignCorners ? (nOut > 1 ? f((nIn - 1) / (nOut - 1)) : 0) : scale;
      const src = alignCorners ? f(s * j) : Math.max(f(f(s * f(j + 0.5)) - 0.5), 0);
      i0 = Math.floor(src);
      i1 = i0 + (i0 < nIn - 1 ? 1 : 0);
      w1 = Math.min(Math.max(f(src - i0), 0), 1);
    }
    table.set([i0, i1, f(1 - w1), w1], 4 * j);
  }
  const ranges = new Uint32Array(nIn * 2);
  const first = new Array<number>(nIn).fill(-1);
  const last = new Array<number>(nIn).fill(-1);
  for (let j = 0; j < nOut; j++) {
    for (const k of [table[4 * j]!, table[4 * j + 1]!]) {
      if (first[k] === -1) first[k] = j;
      last[k] = j + 1;
    }
  }
  for (let k = 0; k < nIn; k++) ranges.set(first[k] === -1 ? [0, 0] : [first[k]!, last[k]!], 2 * k);
  let identity = nIn === nOut;
  for (let j = 0; identity && j < nOut; j++) identity = table[4 * j] === j && table[4 * j + 3] === 0;
  return { axis, nIn, nOut, table, ranges, identity };
}

function outputSize(x: Tensor, options: InterpolateOptions): { size: Triple; factors: (number | undefined)[] } {
  const spatial = x.shape.slice(2) as Triple;
  if ((options.size === undefined) === (options.scaleFactor === undefined)) {
    throw new TakError('interpolate3d: give exactly one of size and scaleFactor');
  }
  if (options.size !== undefined) {
    const size = (typeof options.size === 'number' ? [options.size, options.size, options.size] : [...options.size]) as Triple;
    if (size.length !== 3 || size.some((s) => !Number.isInteger(s) || s < 1)) throw new TakError(`interpolate3d: size must be 3 positive integers, got ${show(options.size)}`);
    return { size, factors: [undefined, undefined, undefined] };
  }
  const factors = typeof options.scaleFactor === 'number' ? [options.scaleFactor, options.scaleFactor, options.scaleFactor] : [...options.scaleFactor!];
  if (factors.length !== 3 || factors.some((s) => !(s > 0))) throw new TakError(`interpolate3d: scaleFactor must be positive, got ${show(options.scaleFactor)}`);
  const size = spatial.map((d, a) => Math.floor(d * factors[a]!)) as Triple;
  if (size.some((s) => s < 1)) throw new TakError(`interpolate3d: scale factor ${show(options.scaleFactor)} leaves an empty output for input ${show([...x.shape])}`);
  return { size, factors };
}

let noRanges: Tensor | null = null;
function emptyRanges(): BufferRef {
  if (!noRanges || noRanges.isDisposed) noRanges = keep(fromArray(new Uint32Array(4), [4], 'u32'));
  return noRanges.binding;
}

/** One forward (or adjoint) pass along plan.axis. */
function pass(x: Tensor, plan: AxisPlan, adjoint: boolean, nearest: boolean): Tensor {
  const shape = [...x.shape];
  shape[plan.axis] = adjoint ? plan.nIn : plan.nOut;
  const y = Tensor.empty(shape, x.dtype);
  const inner = numel(x.shape.slice(plan.axis + 1));
  const outer = numel(x.shape.slice(0, plan.axis));
  const rows = outer * (adjoint ? plan.nIn : plan.nOut);
  if (y.size === 0) return y;
  const e = engine();
  const kernel = e.kernel({
    file: 'resize',
    types: { T: nearest && !adjoint ? 'u32' : 'f32' },
    constants: { MODE: adjoint ? 1 : 0, NEAREST: nearest, WG: 64 },
  });
  const table = fromArray(plan.table, [plan.nOut, 4]);
  const ranges = adjoint ? fromArray(plan.ranges, [plan.nIn, 2], 'u32') : null;
  e.dispatch(
    kernel,
    { x: x.binding, table: table.binding, ranges: ranges ? ranges.binding : emptyRanges(), y: y.binding },
    { inner, n_in: plan.nIn, n_out: plan.nOut, rows },
    [Math.ceil(inner / 64), Math.min(rows, 65535), Math.ceil(rows / 65535)],
  );
  table.dispose();
  ranges?.dispose();
  return y;
}

/** Runs the passes in order (forward) or their adjoints in reverse order. */
function runPasses(x: Tensor, plans: AxisPlan[], adjoint: boolean, nearest: boolean): Tensor {
  let current = x;
  const order = adjoint ? [...plans].reverse() : plans;
  for (const plan of order) {
    if (plan.identity) continue;
    const next = pass(current, plan, adjoint, nearest);
    if (current !== x) current.dispose();
    current = next;
  }
  return current === x ? Tensor.view(x, x.shape) : current;
}

type Interpolate3d = (x: Tensor, options: InterpolateOptions) => Tensor;

export const interpolate3d: Interpolate3d = defineOp({
  name: 'interpolate3d',
  family: 'resize',
  forward: (x: Tensor, options: InterpolateOptions) => {
    x.live();
    const mode = options.mode ?? 'nearest';
    if (x.ndim !== 5) throw new TakError(`interpolate3d: input must be [N, C, D, H, W], got ${show([...x.shape])}`);
    if (mode !== 'nearest' && mode !== 'trilinear') throw new TakError(`interpolate3d: mode must be 'nearest' or 'trilinear', got ${show(mode)}`);
    if (mode === 'trilinear' && x.dtype !== 'f32') throw new TakError(`interpolate3d: trilinear needs an f32 tensor, got ${x.dtype}`);
    if (mode === 'nearest' && options.alignCorners !== undefined) throw new TakError("interpolate3d: alignCorners only applies to 'trilinear' (as in PyTorch)");
    const { size, factors } = outputSize(x, options);
    const plans = [2, 3, 4].map((axis, a) => planAxis(axis, x.shape[axis]!, size[a]!, factors[a], mode, options.alignCorners ?? false));
    const nearest = mode === 'nearest';
    const out = runPasses(x, [...plans].reverse(), false, nearest);
    if (x.dtype !== 'f32') return { out };
    return { out, inputs: [x], vjp: (g) => [runPasses(g, [...plans].reverse(), true, false)] };
  },
  gradcheck: [
    { label: 'trilinear 1x2x2x3x2 -> 3x5x4', inputs: () => [randn([1, 2, 2, 3, 2], 0, 1, { seed: 680 })], fn: (x) => interpolate3d(x, { size: [3, 5, 4], mode: 'trilinear' }) },
    { label: 'trilinear x0.5 (down)', inputs: () => [randn([1, 1, 4, 4, 6], 0, 1, { seed: 681 })], fn: (x) => interpolate3d(x, { scaleFactor: 0.5, mode: 'trilinear' }) },
    { label: 'trilinear align corners 2x3x3 -> 3x4x5', inputs: () => [randn([1, 1, 2, 3, 3], 0, 1, { seed: 682 })], fn: (x) => interpolate3d(x, { size: [3, 4, 5], mode: 'trilinear', alignCorners: true }) },
    { label: 'nearest x2 (up)', inputs: () => [randn([1, 2, 2, 2, 3], 0, 1, { seed: 683 })], fn: (x) => interpolate3d(x, { scaleFactor: 2 }) },
    { label: 'nearest 5x4x6 -> 3x3x4', inputs: () => [randn([1, 1, 5, 4, 6], 0, 1, { seed: 684 })], fn: (x) => interpolate3d(x, { size: [3, 3, 4] }) },
  ],
});
