import { TakError, show } from '../util/errors.js';
import type { Shape } from '../tensor/tensor.js';

/** NumPy broadcasting of several shapes. */
export function broadcastShapes(...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let size = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (size !== 1 && d !== size) {
        throw new TakError(`Shapes ${shapes.map((x) => show([...x])).join(' and ')} cannot be broadcast together (axis ${i - rank})`);
      }
      size = d;
    }
    out.push(size);
  }
  return out;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/**
 * Element strides of each input in the output's index space (0 where broadcast), with adjacent
 * dims merged wherever every input is contiguous across them, and size-1 dims dropped. Same-shape
 * inputs collapse to rank 1, which the kernels treat as plain linear indexing.
 */
export function collapseBroadcast(out: Shape, inputs: Shape[]): { dims: number[]; strides: number[][] } {
  const rank = out.length;
  let strides = inputs.map((shape) => {
    const own = contiguousStrides(shape);
    return out.map((_size, i) => {
      const j = i - (rank - shape.length);
      return j < 0 || shape[j] === 1 ? 0 : own[j]!;
    });
  });
  let dims = [...out];
  const keep = dims.map((d) => d !== 1);
  dims = dims.filter((_, i) => keep[i]);
  strides = strides.map((s) => s.filter((_, i) => keep[i]));
  for (let i = dims.length - 2; i >= 0; i--) {
    const mergeable = strides.every((s) => s[i] === s[i + 1]! * dims[i + 1]!);
    if (mergeable) {
      dims[i] = dims[i]! * dims[i + 1]!;
      dims.splice(i + 1, 1);
      for (const s of strides) s.splice(i, 1);
    }
  }
  if (dims.length === 0) return { dims: [1], strides: strides.map(() => [0]) };
  return { dims, strides };
}
