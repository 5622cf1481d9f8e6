import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor, type Shape } from '../tensor/tensor.js';
import { randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineOp } from './registry.js';
import { outerRuns, runBinding } from './chunks.js';
import { div, eq, mul } from './elementwise.js';
import { expand, permute, reshape } from './shape.js';

type Axes = number | readonly number[] | undefined;

const WG = 64;
/** Below this many output threads a long reduction is split into partial sums first. */
const MIN_THREADS = 4096;

type ReduceOp = 'sum' | 'max' | 'min' | 'argmax';
const OP_ID: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2, argmax: 3 };

/** Normalises axes (negative allowed); all axes when undefined. */
export function normalizeAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    const axis = a < 0 ? a + rank : a;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw new TakError(`Axis ${a} is out of range for a tensor of rank ${rank}`);
    return axis;
  });
  if (new Set(out).size !== out.length) throw new TakError(`Repeated axis in ${show(list)}`);
  return out.sort((a, b) => a - b);
}

/** Shape after reducing `axes` (kept as size 1 when keepdim). */
export function reducedShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** One reduction pass of a contiguous [outer, r, inner] view into [outer, splits, inner]. */
function pass(x: Tensor, outer: number, r: number, inner: number, splits: number, op: ReduceOp, scale: number): Tensor {
  const chunk = Math.ceil(r / splits);
  // vec4 along R for contiguous rows whose chunks start on vec4 boundaries; along inner when it is
  // a multiple of 4; scalar otherwise (see kernels/reduce.wgsl).
  const vec = inner === 1 && op !== 'argmax' && r % 4 === 0 && chunk % 4 === 0 ? 1 : inner % 4 === 0 ? 2 : 0;
  const out = Tensor.empty([outer, splits, inner], op === 'argmax' ? 'i32' : x.dtype);
  const e = engine();
  const kernel = e.kernel({ file: 'reduce', types: { T: x.dtype, TO: out.dtype }, constants: { OP: OP_ID[op], VEC: vec, WG } });
  for (const run of outerRuns('reduction', outer, [r * inner, splits * inner])) {
    const threads = (run.count * splits * inner) / (vec === 2 ? 4 : 1);
    e.dispatch(
      kernel,
      { x: runBinding(x, run, r * inner), y: runBinding(out, run, splits * inner) },
      { outer: run.count, r, inner, chunk, splits, scale },
      grid(Math.ceil(threads / WG)),
    );
  }
  return out;
}

/**
 * The largest divisor of r whose slices of `inner` elements leave room in one binding for as many
 * of them as the offset alignment needs per run (one output element each): 1 if there is none.
 */
function fittingDivisor(r: number, inner: number): number {
  const e = engine();
  const slicesPerRun = (e.limits.minStorageBufferOffsetAlignment ?? 256) / 4;
  const most = Math.floor((e.maxBindingBytes - 16) / 4 / inner / slicesPerRun);
  let best = 1;
  for (let d = 1; d * d <= r; d++) {
    if (r % d !== 0) continue;
    if (d <= most) best = Math.max(best, d);
    if (r / d <= most) best = Math.max(best, r / d);
  }
  return best;
}

/** Reduces a [outer, r, inner] view over r, splitting long reductions into two passes. */
function reduceView(x: Tensor, outer: number, r: number, inner: number, op: ReduceOp, scale: number): Tensor {
  if (r * inner * 4 > engine().maxBindingBytes - 16 && op !== 'argmax') {
    // One slice of R exceeds a binding: reduce R = R1·R2 as [outer·R1, R2, inner], then over R1.
    const r2 = fittingDivisor(r, inner);
    if (r2 > 1) {
      const partial = reduceView(x, outer * (r / r2), r2, inner, op, 1);
      const out = reduceView(partial, outer, r / r2, inner, op, scale);
      partial.dispose();
      return out;
    }
  }
  const threads = outer * inner;
  if (op === 'argmax' || threads >= MIN_THREADS || r <= 512) return pass(x, outer, r, inner, 1, op, scale);
  // Chunks of a multiple of 4 elements (vec4 loads), enough of them to fill ~2·MIN_THREADS threads.
  const wanted = Math.min(Math.ceil(r / 64), Math.ceil((2 * MIN_THREADS) / threads));
  const chunk = Math.ceil(r / wanted / 4) * 4;
  const partial = pass(x, outer, r, inner, Math.ceil(r / chunk), op, 1);
  const out = reduceView(partial, outer, partial.shape[1]!, inner, op, scale);
  partial.dispose();
  return out;
}

/** Reduces `axes` of x (any set of axes: non-adjacent ones are first permuted to the end). */
function reduce(x: Tensor, axes: number[], keepdim: boolean, op: ReduceOp, scale = 1): Tensor {
  x.live();
  const shape = x.shape;
  const outShape = reducedShape(shape, axes, keepdim);
  if (x.size === 0) throw new TakError(`Cannot ${op} over an empty tensor of shape ${show([...shape])}`);
  const adjacent = axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1);
  if (!adjacent && op !== 'argmax') {
    // Sum, max and min compose: reduce the last run of adjacent axes in place, then the rest (a
    // bias gradient over [0, 2, 3, 4] is two strided passes, not a permuted copy of the tensor).
    let start = axes.length - 1;
    while (start > 0 && axes[start - 1] === axes[start]! - 1) start--;
    const partial = reduce(x, axes.slice(start), true, op, scale);
    const kept = reduce(partial, axes.slice(0, start), true, op);
    partial.dispose();
    const out = reshape(kept, outShape);
    kept.dispose();
    return out;
  }
  let source = x;
  let outer: number, r: number, inner: number;
  if (adjacent && axes.length > 0) {
    outer = shape.slice(0, axes[0]).reduce((p, d) => p * d, 1);
    r = axes.reduce((p, a) => p * shape[a]!, 1);
    inner = shape.slice(axes[axes.length - 1]! + 1).reduce((p, d) => p * d, 1);
  } else {
    const rest = shape.map((_, i) => i).filter((i) => !axes.includes(i));
    source = permute(x, [...rest, ...axes]);
    outer = rest.reduce((p, a) => p * shape[a]!, 1);
    r = axes.reduce((p, a) => p * shape[a]!, 1);
    inner = 1;
  }
  const flat = reduceView(source, outer, r, inner, op, scale);
  if (source !== x) source.dispose();
  const out = reshape(flat, outShape);
  flat.dispose();
  return out;
}


export const sum: (x: Tensor, axes?: Axes, keepdim?: boolean) => Tensor = defineOp({
  name: 'sum',
  family: 'reduce',
  forward: (x: Tensor, axes?: Axes, keepdim = false) => {
    const list = normalizeAxes(axes, x.ndim);
    return {
      out: reduce(x, list, keepdim, 'sum'),
      inputs: [x],
      vjp: (g) => [expand(reshape(g, reducedShape(x.shape, list, true)), x.shape)],
    };
  },
  gradcheck: [
    { label: '3x4x5 all', inputs: () => [randn([3, 4, 5], 0, 1)] },
    { label: '3x4x5 axis 1 keepdim', inputs: () => [randn([3, 4, 5], 0, 1)], fn: (x) => sum(x, 1, true) },
    { label: '3x4x5 axes [0,2]', inputs: () => [randn([3, 4, 5], 0, 1)], fn: (x) => sum(x, [0, 2]) },
  ],
});

export const mean: (x: Tensor, axes?: Axes, keepdim?: boolean) => Tensor = defineOp({
  name: 'mean',
  family: 'reduce',
  forward: (x: Tensor, axes?: Axes, keepdim = false) => {
    const list = normalizeAxes(axes, x.ndim);
    const count = list.reduce((p, a) => p * x.shape[a]!, 1);
    return {
      out: reduce(x, list, keepdim, 'sum', 1 / count),
      inputs: [x],
      vjp: (g) => [mul(expand(reshape(g, reducedShape(x.shape, list, true)), x.shape), 1 / count)],
    };
  },
  gradcheck: [
    { label: '3x4x5 axis -1', inputs: () => [randn([3, 4, 5], 0, 1)], fn: (x) => mean(x, -1) },
    { label: '2x3x7 all', inputs: () => [randn([2, 3, 7], 0, 1)] },
  ],
});

/** Max and min over axes; the gradient is shared equally among tied maxima (like torch.amax). */
function extremum(name: 'max' | 'min') {
  const op: (x: Tensor, axes?: Axes, keepdim?: boolean) => Tensor = defineOp({
    name,
    family: 'reduce',
    forward: (x: Tensor, axes?: Axes, keepdim = false) => {
      const list = normalizeAxes(axes, x.ndim);
      const out = reduce(x, list, keepdim, name);
      const saved = Tensor.view(out, reducedShape(x.shape, list, true));
      return {
        out,
        inputs: [x],
        saved: [saved],
        vjp: (g) => {
          const hit = eq(x, expand(saved, x.shape));
          const ties = expand(reduce(hit, list, true, 'sum'), x.shape);
          return [div(mul(expand(reshape(g, saved.shape), x.shape), hit), ties)];
        },
      };
    },
    gradcheck: [
      { label: '4x5 axis 1', inputs: () => [randn([4, 5], 0, 1)], fn: (x) => op(x, 1) },
      { label: '3x4x5 all', inputs: () => [randn([3, 4, 5], 0, 1)] },
    ],
  });
  return op;
}
export const max = extremum('max');
export const min = extremum('min');

/** Index of the first maximum along `axis` (i32). */
export function argmax(x: Tensor, axis: number, keepdim = false): Tensor {
  return reduce(x, normalizeAxes(axis, x.ndim), keepdim, 'argmax');
}

/** Sums `g` down to `shape` (the VJP of broadcasting `shape` up to g.shape). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new TakError(`sumTo: cannot reduce ${show([...g.shape])} to the larger shape ${show([...shape])}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return reshape(g, shape);
  const s = reduce(g, axes, false, 'sum');
  const out = reshape(s, shape);
  s.dispose();
  return out;
}
