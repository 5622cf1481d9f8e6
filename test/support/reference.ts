import { expect } from 'vitest';
import { Rng } from '../../src/util/random.js';

/** Float64 CPU references and comparison helpers for op tests. */

export function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Multi-index of linear index `e` in `shape`. */
export function unravel(e: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = e % shape[i]!;
    e = Math.floor(e / shape[i]!);
  }
  return idx;
}

export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

/** Element of `data` (shape `shape`) at broadcast multi-index `idx` of a larger output. */
export function at(data: ArrayLike<number>, shape: readonly number[], idx: readonly number[]): number {
  const lead = idx.length - shape.length;
  let off = 0;
  const strides = stridesOf(shape);
  for (let i = 0; i < shape.length; i++) off += (shape[i] === 1 ? 0 : idx[i + lead]!) * strides[i]!;
  return data[off]!;
}

/** out[i] = f(inputs at the broadcast index) in float64. */
export function mapBroadcast(f: (...v: number[]) => number, inputs: { data: ArrayLike<number>; shape: readonly number[] }[]): { data: Float64Array; shape: number[] } {
  const shape = broadcastShape(...inputs.map((x) => x.shape));
  const out = new Float64Array(numel(shape));
  for (let e = 0; e < out.length; e++) {
    const idx = unravel(e, shape);
    out[e] = f(...inputs.map((x) => at(x.data, x.shape, idx)));
  }
  return { data: out, shape };
}

export function randomArray(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  return new Rng(seed).fillUniform(new Float32Array(n), lo, hi) as Float32Array;
}

/** Every element close (NaN anywhere fails: outputs start poisoned with NaN). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const err = Math.abs(a - b);
    const ok = Number.isNaN(b) ? Number.isNaN(a) : err <= atol + rtol * Math.abs(b);
    if (!ok && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0) {
    expect.fail(`element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (|err| ${worstErr})`);
  }
}
