import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor } from '../tensor/tensor.js';
import { fromArray, randn, zeros } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineOp } from './registry.js';

const WG = 64;

interface AxisView {
  outer: number;
  d: number;
  inner: number;
  axis: number;
}

function axisView(x: Tensor, dim: number): AxisView {
  const axis = dim < 0 ? dim + x.ndim : dim;
  if (axis < 0 || axis >= x.ndim) throw new TakError(`Axis ${dim} is out of range for shape ${show([...x.shape])}`);
  return {
    axis,
    outer: x.shape.slice(0, axis).reduce((p, s) => p * s, 1),
    d: x.shape[axis]!,
    inner: x.shape.slice(axis + 1).reduce((p, s) => p * s, 1),
  };
}

function checkIndex(index: Tensor): void {
  index.live();
  if (index.dtype !== 'i32') throw new TakError(`Index tensors must be i32, got ${index.dtype}${show([...index.shape])}; cast with cast(x, 'i32')`);
}

function checkFloat(x: Tensor, op: string): void {
  if (x.dtype !== 'f32') throw new TakError(`${op} supports f32 tensors, got ${x.dtype}${show([...x.shape])}`);
}

/** Records the gather kernel; `strides` are the index tensor's strides over (outer, j, inner). */
function runGather(x: Tensor, index: Tensor, v: AxisView, j: number, strides: [number, number, number], outShape: number[]): Tensor {
  const out = Tensor.empty(outShape, 'f32');
  const e = engine();
  const kernel = e.kernel({ file: 'gather', constants: { WG, SCATTER: false } });
  e.dispatch(
    kernel,
    { x: x.binding, index: index.binding, base: x.binding, y: out.binding },
    { outer: v.outer, d: v.d, j, inner: v.inner, index_outer: strides[0], index_j: strides[1], index_inner: strides[2] },
    grid(Math.ceil(out.size / WG)),
  );
  return out;
}

/** y = base + scatter of src rows into axis positions given by index (deterministic order). */
function runScatter(base: Tensor, src: Tensor, index: Tensor, v: AxisView, j: number, strides: [number, number, number]): Tensor {
  const out = Tensor.empty(base.shape, 'f32');
  const e = engine();
  const kernel = e.kernel({ file: 'gather', constants: { WG, SCATTER: true } });
  e.dispatch(
    kernel,
    { x: src.binding, index: index.binding, base: base.binding, y: out.binding },
    { outer: v.outer, d: v.d, j, inner: v.inner, index_outer: strides[0], index_j: strides[1], index_inner: strides[2] },
    grid(Math.ceil(out.size / WG)),
  );
  return out;
}

/** Rows of x along `dim` picked by a 1-D i32 index (like torch.index_select). */
export const indexSelect: (x: Tensor, dim: number, index: Tensor) => Tensor = defineOp({
  name: 'index_select',
  family: 'gather',
  forward: (x: Tensor, dim: number, index: Tensor) => {
    checkFloat(x, 'index_select');
    checkIndex(index);
    if (index.ndim !== 1) throw new TakError(`index_select needs a 1-D index, got shape ${show([...index.shape])}`);
    const v = axisView(x, dim);
    const outShape = [...x.shape];
    outShape[v.axis] = index.size;
    const out = runGather(x, index, v, index.size, [0, 1, 0], outShape);
    return {
      out,
      inputs: [x],
      vjp: (g) => {
        const z = zeros(x.shape);
        return [runScatter(z, g, index, v, index.size, [0, 1, 0])];
      },
    };
  },
  gradcheck: [
    {
      label: '4x5x3 dim 1, index [4,0,4,2]',
      inputs: () => [randn([4, 5, 3], 0, 1)],
      fn: (x) => indexSelect(x, 1, fromArray(new Int32Array([4, 0, 4, 2]))),
    },
  ],
});

/** torch.gather: out[..., j, ...] = x[..., index[..., j, ...], ...] along `dim`; index matches x elsewhere. */
export const gather: (x: Tensor, dim: number, index: Tensor) => Tensor = defineOp({
  name: 'gather',
  family: 'gather',
  forward: (x: Tensor, dim: number, index: Tensor) => {
    checkFloat(x, 'gather');
    checkIndex(index);
    const v = axisView(x, dim);
    if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== v.axis && s !== x.shape[i])) {
      throw new TakError(`gather along ${dim}: index shape ${show([...index.shape])} must equal x shape ${show([...x.shape])} except on that axis`);
    }
    const j = index.shape[v.axis]!;
    const strides: [number, number, number] = [j * v.inner, v.inner, 1];
    const out = runGather(x, index, v, j, strides, [...index.shape]);
    return {
      out,
      inputs: [x],
      vjp: (g) => {
        const z = zeros(x.shape);
        return [runScatter(z, g, index, v, j, strides)];
      },
    };
  },
  gradcheck: [
    {
      label: '3x4x2 dim 1',
      inputs: () => [randn([3, 4, 2], 0, 1)],
      fn: (x) => gather(x, 1, fromArray(new Int32Array([0, 3, 3, 1, 2, 2, 1, 0, 0, 0, 3, 1]), [3, 2, 2])),
    },
  ],
});

/** base + src scattered along `dim` by index (torch.scatter_add), summing duplicates in order. */
export const scatterAdd: (base: Tensor, dim: number, index: Tensor, src: Tensor) => Tensor = defineOp({
  name: 'scatter_add',
  family: 'gather',
  forward: (base: Tensor, dim: number, index: Tensor, src: Tensor) => {
    checkFloat(base, 'scatter_add');
    checkFloat(src, 'scatter_add');
    checkIndex(index);
    const v = axisView(base, dim);
    if (index.ndim !== base.ndim || src.ndim !== base.ndim || index.shape.some((s, i) => s !== src.shape[i] || (i !== v.axis && s !== base.shape[i]))) {
      throw new TakError(
        `scatter_add along ${dim}: index ${show([...index.shape])} and src ${show([...src.shape])} must match, and equal base ${show([...base.shape])} except on that axis`,
      );
    }
    const j = index.shape[v.axis]!;
    const strides: [number, number, number] = [j * v.inner, v.inner, 1];
    const out = runScatter(base, src, index, v, j, strides);
    return {
      out,
      inputs: [base, src],
      vjp: (g) => [g, runGather(g, index, v, j, strides, [...index.shape])],
    };
  },
  gradcheck: [
    {
      label: '3x4 dim 1 with duplicates',
      inputs: () => [randn([3, 4], 0, 1), randn([3, 3], 0, 1)],
      fn: (base, src) => scatterAdd(base, 1, fromArray(new Int32Array([0, 0, 3, 2, 1, 2, 3, 3, 3]), [3, 3]), src),
    },
  ],
});
