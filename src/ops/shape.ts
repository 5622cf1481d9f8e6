import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { BYTES_PER_ELEMENT, Tensor, numel, viewAlignment, type Shape } from '../tensor/tensor.js';
import { full, randn, zeros } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { contiguousStrides } from './broadcast.js';
import { defineOp } from './registry.js';
import { sumTo } from './reduce.js';
import { splitOuter } from './chunks.js';

const WG = 64;
const PER = 4;
/** Contiguous copies of at least this many elements go through copyBufferToBuffer (it ends the compute pass). */
const MEMCPY_MIN = 1 << 16;

/**
 * Records y[region] = x[strided view] (or y[region] += x[strided view] with `accumulate`, f32 only).
 * `dims` is the iteration shape; strides and offsets are in elements. Dims of size 1 are dropped
 * and contiguous runs merged so the index math stays short.
 */
export function stridedCopy(
  x: Tensor, inOffset: number, inStride: number[],
  y: Tensor, outOffset: number, outStride: number[],
  dims: number[], accumulate = false,
): void {
  if (accumulate && (x.dtype !== 'f32' || y.dtype !== 'f32')) throw new TakError(`stridedCopy: accumulating needs f32 tensors, got ${x.dtype} into ${y.dtype}`);
  const n = numel(dims);
  if (n === 0) return;
  let d: number[] = [], si: number[] = [], so: number[] = [];
  dims.forEach((size, i) => {
    if (size !== 1) {
      d.push(size);
      si.push(inStride[i]!);
      so.push(outStride[i]!);
    }
  });
  for (let i = d.length - 2; i >= 0; i--) {
    if (si[i] === si[i + 1]! * d[i + 1]! && so[i] === so[i + 1]! * d[i + 1]!) {
      d[i] = d[i]! * d[i + 1]!;
      d.splice(i + 1, 1);
      si.splice(i, 1);
      so.splice(i, 1);
    }
  }
  if (d.length === 0) [d, si, so] = [[1], [0], [0]];
  if (d.length > 8) throw new TakError(`Strided copy over more than 8 non-mergeable dims: ${show(dims)}`);
  const e = engine();
  if (!accumulate && d.length === 1 && si[0] === 1 && so[0] === 1 && n >= MEMCPY_MIN && x.buffer.buffer !== y.buffer.buffer) {
    // One contiguous run: the driver's buffer copy (copyBufferToBuffer ~20 GB/s on lavapipe, the
    // gather kernel below ~0.4 GB/s with its per-element index math), e.g. a slice's VJP.
    e.copy(x.buffer, x.byteOffset + inOffset * BYTES_PER_ELEMENT, y.buffer, y.byteOffset + outOffset * BYTES_PER_ELEMENT, n * BYTES_PER_ELEMENT);
    return;
  }
  // Rows of 4k elements contiguous on both sides, everything else a multiple of 4: move vec4s.
  const last = d.length - 1;
  const vec4 = si[last] === 1 && so[last] === 1 && d[last]! % 4 === 0 && [inOffset, outOffset, ...si.slice(0, last), ...so.slice(0, last)].every((v) => v % 4 === 0);
  const unit = vec4 ? 4 : 1;
  if (vec4) {
    d[last] = d[last]! / 4;
    for (let i = 0; i < last; i++) {
      si[i] = si[i]! / 4;
      so[i] = so[i]! / 4;
    }
  }
  const outContiguous = d.length === 1 ? so[0] === 1 : so.every((s, i) => s === contiguousStrides(d)[i]);
  const kernel = e.kernel({
    file: 'strided_copy', types: { E: vec4 ? 'vec4<u32>' : 'u32', F: vec4 ? 'vec4f' : 'f32' }, constants: { WG, PER, OUT_CONTIGUOUS: outContiguous, ACCUMULATE: accumulate },
  });
  const inner = numel(d.slice(1));
  const runs = splitOuter('strided copy', d, [{ tensor: x, offset: inOffset / unit, strides: si }, { tensor: y, offset: outOffset / unit, strides: so }], 4 * unit);
  for (const run of runs) {
    const count = run.count * inner;
    e.dispatch(
      kernel,
      { x: run.bindings[0]!, y: run.bindings[1]! },
      { n: count, rank: d.length, in_offset: run.offsets[0]!, out_offset: run.offsets[1]!, dims: [run.count, ...d.slice(1)], in_stride: si, out_stride: so },
      grid(Math.ceil(count / (WG * PER))),
    );
  }
}

function resolveShape(shape: readonly number[], size: number, from: Shape): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || size % known !== 0) throw new TakError(`Cannot reshape ${show([...from])} to ${show(shape)}`);
    out[unknown] = size / known;
  }
  if (numel(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TakError(`Cannot reshape ${show([...from])} (${size} elements) to ${show(shape)}`);
  }
  return out;
}

/** Same data under a new shape (no copy); one dim may be -1. */
export const reshape: (x: Tensor, shape: readonly number[]) => Tensor = defineOp({
  name: 'reshape',
  family: 'shape',
  forward: (x: Tensor, shape: readonly number[]) => ({
    out: Tensor.view(x, resolveShape(shape, x.size, x.shape)),
    inputs: [x],
    vjp: (g) => [reshape(g, x.shape)],
  }),
  gradcheck: [{ label: '3x4 -> 2x6', inputs: () => [randn([3, 4], 0, 1)], fn: (x) => reshape(x, [2, -1]) }],
});

export const permute: (x: Tensor, order: readonly number[]) => Tensor = defineOp({
  name: 'permute',
  family: 'shape',
  forward: (x: Tensor, order: readonly number[]) => {
    const rank = x.ndim;
    const axes = order.map((a) => (a < 0 ? a + rank : a));
    if (axes.length !== rank || new Set(axes).size !== rank || axes.some((a) => a < 0 || a >= rank)) {
      throw new TakError(`permute(): ${show([...order])} is not a permutation of the ${rank} axes of ${show([...x.shape])}`);
    }
    const inStrides = contiguousStrides(x.shape);
    const outShape = axes.map((a) => x.shape[a]!);
    const out = Tensor.empty(outShape, x.dtype);
    stridedCopy(x, 0, axes.map((a) => inStrides[a]!), out, 0, contiguousStrides(outShape), outShape);
    const inverse = new Array<number>(rank);
    axes.forEach((a, i) => (inverse[a] = i));
    return { out, inputs: [x], vjp: (g) => [permute(g, inverse)] };
  },
  gradcheck: [{ label: '2x3x4 -> 4x2x3', inputs: () => [randn([2, 3, 4], 0, 1)], fn: (x) => permute(x, [2, 0, 1]) }],
});

/** Swaps two axes. */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const order = [...x.shape.keys()];
  const i = a < 0 ? a + x.ndim : a;
  const j = b < 0 ? b + x.ndim : b;
  [order[i], order[j]] = [order[j]!, order[i]!];
  return permute(x, order);
}

/** Broadcasts x to `shape` (NumPy rules) as a new contiguous tensor. */
export const expand: (x: Tensor, shape: readonly number[]) => Tensor = defineOp({
  name: 'expand',
  family: 'shape',
  forward: (x: Tensor, shape: readonly number[]) => {
    const lead = shape.length - x.ndim;
    const own = contiguousStrides(x.shape);
    const strides = shape.map((size, i) => {
      const j = i - lead;
      if (j < 0) return 0;
      if (x.shape[j] === size) return own[j]!;
      if (x.shape[j] === 1) return 0;
      throw new TakError(`expand(): cannot broadcast ${show([...x.shape])} to ${show([...shape])}`);
    });
    const out = Tensor.empty(shape, x.dtype);
    stridedCopy(x, 0, strides, out, 0, contiguousStrides(shape), [...shape]);
    return { out, inputs: [x], vjp: (g) => [sumTo(g, x.shape)] };
  },
  gradcheck: [{ label: '3x1 -> 2x3x4', inputs: () => [randn([3, 1], 0, 1)], fn: (x) => expand(x, [2, 3, 4]) }],
});

export type SliceSpec = [start: number, end: number, step?: number] | null;

/** x[start:end:step, ...] per axis (null = whole axis); negative indices count from the end. */
export const slice: (x: Tensor, ranges: readonly SliceSpec[]) => Tensor = defineOp({
  name: 'slice',
  family: 'shape',
  forward: (x: Tensor, ranges: readonly SliceSpec[]) => {
    const strides = contiguousStrides(x.shape);
    let offset = 0;
    const outShape: number[] = [];
    const inStride: number[] = [];
    const starts: number[] = [];
    const steps: number[] = [];
    x.shape.forEach((size, i) => {
      const spec = ranges[i] ?? null;
      let [start, end, step] = spec ? [spec[0], spec[1], spec[2] ?? 1] : [0, size, 1];
      if (step < 1 || !Number.isInteger(step)) throw new TakError(`slice(): step must be a positive integer, got ${step}`);
      if (start < 0) start += size;
      if (end < 0) end += size;
      start = Math.min(Math.max(start, 0), size);
      end = Math.min(Math.max(end, start), size);
      const count = Math.ceil((end - start) / step);
      outShape.push(count);
      inStride.push(strides[i]! * step);
      offset += start * strides[i]!;
      starts.push(start);
      steps.push(step);
    });
    // A contiguous block (full trailing axes, one range, single indices before it) whose start
    // keeps the binding aligned is a view: no copy (e.g. the labelled half of a batch).
    const first = x.shape.findIndex((size, i) => outShape[i] !== size);
    const block =
      first < 0 ||
      (steps[first] === 1 && outShape.slice(0, first).every((d) => d === 1) && outShape.slice(first + 1).every((d, i) => d === x.shape[first + 1 + i]));
    const isView = block && (offset * 4 + x.byteOffset) % viewAlignment() === 0;
    const out = isView ? Tensor.view(x, outShape, offset) : Tensor.empty(outShape, x.dtype);
    if (!isView) stridedCopy(x, offset, inStride, out, 0, contiguousStrides(outShape), outShape);
    return {
      out,
      inputs: [x],
      vjp: (g, into) => {
        // Into x's gradient so far when backward() offers it: only the region is read and written,
        // instead of zeros of x's size and a full-size add.
        const soFar = g.dtype === 'f32' ? (into?.[0] ?? null) : null;
        const gx = soFar ?? zeros(x.shape, g.dtype);
        stridedCopy(g, 0, contiguousStrides(g.shape), gx, starts.reduce((p, s, i) => p + s * strides[i]!, 0), steps.map((s, i) => s * strides[i]!), [...g.shape], Boolean(soFar));
        return [gx];
      },
    };
  },
  gradcheck: [
    { label: '5x6 [1:4, ::2]', inputs: () => [randn([5, 6], 0, 1)], fn: (x) => slice(x, [[1, 4], [0, 6, 2]]) },
  ],
});

/** Concatenates along `axis`. */
export const concat: (tensors: readonly Tensor[], axis?: number) => Tensor = defineOp({
  name: 'concat',
  family: 'shape',
  forward: (tensors: readonly Tensor[], axis = 0) => {
    if (tensors.length === 0) throw new TakError('concat() needs at least one tensor');
    const first = tensors[0]!;
    const ax = axis < 0 ? axis + first.ndim : axis;
    for (const t of tensors) {
      t.live();
      if (t.ndim !== first.ndim || t.dtype !== first.dtype || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
        throw new TakError(`concat() along axis ${axis}: ${tensors.map((u) => `${u.dtype}${show([...u.shape])}`).join(', ')} do not match`);
      }
    }
    const outShape = [...first.shape];
    outShape[ax] = tensors.reduce((p, t) => p + t.shape[ax]!, 0);
    const out = Tensor.empty(outShape, first.dtype);
    const outStrides = contiguousStrides(outShape);
    const bounds: [number, number][] = [];
    let at = 0;
    for (const t of tensors) {
      stridedCopy(t, 0, contiguousStrides(t.shape), out, at * outStrides[ax]!, outStrides, [...t.shape]);
      bounds.push([at, at + t.shape[ax]!]);
      at += t.shape[ax]!;
    }
    return {
      out,
      inputs: tensors,
      vjp: (g) => bounds.map(([s, e]) => slice(g, g.shape.map((_, i) => (i === ax ? [s, e] : null)))),
    };
  },
  gradcheck: [
    {
      label: '[2x3, 2x1, 2x4] axis 1',
      inputs: () => [randn([2, 3], 0, 1), randn([2, 1], 0, 1), randn([2, 4], 0, 1)],
      fn: (...xs) => concat(xs, 1),
    },
  ],
});

/** Stacks equal-shaped tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const parts = tensors.map((t) => {
    const shape = [...t.shape];
    shape.splice(axis < 0 ? axis + t.ndim + 1 : axis, 0, 1);
    return reshape(t, shape);
  });
  const out = concat(parts, axis);
  for (const p of parts) p.dispose();
  return out;
}

/** Constant padding: `pads[i] = [before, after]` for each axis (missing axes unpadded). */
export const pad: (x: Tensor, pads: readonly [number, number][], value?: number) => Tensor = defineOp({
  name: 'pad',
  family: 'shape',
  forward: (x: Tensor, pads: readonly [number, number][], value = 0) => {
    const p = x.shape.map((_, i) => pads[i] ?? [0, 0]);
    if (p.some(([a, b]) => a < 0 || b < 0 || !Number.isInteger(a) || !Number.isInteger(b))) {
      throw new TakError(`pad(): pads must be non-negative integers, got ${JSON.stringify(pads)}`);
    }
    const outShape = x.shape.map((d, i) => d + p[i]![0] + p[i]![1]);
    const out = full(outShape, value, x.dtype);
    const outStrides = contiguousStrides(outShape);
    const offset = p.reduce((s, [before], i) => s + before * outStrides[i]!, 0);
    stridedCopy(x, 0, contiguousStrides(x.shape), out, offset, outStrides, [...x.shape]);
    return {
      out,
      inputs: [x],
      vjp: (g) => [slice(g, x.shape.map((d, i) => [p[i]![0], p[i]![0] + d]))],
    };
  },
  gradcheck: [{ label: '3x4 pad [[1,2],[0,3]]', inputs: () => [randn([3, 4], 0, 1)], fn: (x) => pad(x, [[1, 2], [0, 3]], 0.5) }],
});

/** Removes size-1 axes (all, or the given one). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  const shape = axis === undefined ? x.shape.filter((d) => d !== 1) : x.shape.filter((_, i) => i !== (axis < 0 ? axis + x.ndim : axis));
  return reshape(x, shape);
}

/** Inserts a size-1 axis. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const shape = [...x.shape];
  shape.splice(axis < 0 ? axis + x.ndim + 1 : axis, 0, 1);
  return reshape(x, shape);
}
