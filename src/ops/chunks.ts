import { engine, type BufferRef } from '../gpu/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { TakError } from '../util/errors.js';

/**
 * Storage bindings are capped (lavapipe: maxStorageBufferBindingSize = 128 MiB) while a training
 * activation of [4, 16, 96³] f32 is 226 MB. Ops over NCDHW data that work per image split the
 * leading axis into runs whose bindings fit and dispatch once per run with byte-range bindings.
 */

export interface OuterRun {
  start: number;
  count: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** A binding window over a run of `count` outer indices: (count − 1)·stride + span + 1 units. */
interface Window {
  stride: number;
  span: number;
  /** Starts exactly at the run's first element (else it may start up to one alignment earlier). */
  exact: boolean;
}

/**
 * Outer indices per run such that every window fits one binding and exact windows of every run
 * start on the storage-offset alignment (a clear error when even one index does not fit).
 */
function runLength(op: string, outer: number, windows: Window[], unitBytes: number): number {
  const e = engine();
  const maxBytes = e.maxBindingBytes;
  const align = e.limits.minStorageBufferOffsetAlignment ?? 256;
  let count = outer;
  let step = 1;
  for (const w of windows) {
    const room = Math.floor((maxBytes - 16 - (w.exact ? 0 : align)) / unitBytes) - w.span - 1;
    if (room < 0) count = 0;
    else if (w.stride > 0) count = Math.min(count, Math.floor(room / w.stride) + 1);
    if (w.exact) step = lcm(step, align / gcd((w.stride * unitBytes) % align || align, align));
  }
  count = Math.floor(count / step) * step;
  if (count === 0) {
    throw new TakError(
      `${op}: one slice along the first axis needs more than this adapter's maxStorageBufferBindingSize of ${maxBytes} ` +
        `bytes (or cannot start on its ${align}-byte offset alignment). Use a smaller patch, or an adapter with a larger binding limit.`,
    );
  }
  return count;
}

function runsOf(outer: number, count: number): OuterRun[] {
  const runs: OuterRun[] = [];
  for (let start = 0; start < outer; start += count) runs.push({ start, count: Math.min(count, outer - start) });
  return runs;
}

/**
 * Runs of the outer axis such that every tensor's slice (`elementsPerOuter[i]` f32/i32 elements
 * per outer index) fits one binding and starts on the storage-offset alignment.
 */
export function outerRuns(op: string, outer: number, elementsPerOuter: readonly number[]): OuterRun[] {
  const maxBytes = engine().maxBindingBytes;
  if (elementsPerOuter.every((per) => outer * per * 4 <= maxBytes - 16)) return [{ start: 0, count: outer }];
  const windows = elementsPerOuter.filter((per) => per > 0).map((per) => ({ stride: per, span: per - 1, exact: true }));
  return runsOf(outer, runLength(op, outer, windows, 4));
}

/** Caps the bytes per binding below the adapter's limit (null: lift the cap); see Engine.capBindingBytes. */
export function capBindingBytes(bytes: number | null): number | null {
  return engine().capBindingBytes(bytes);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** The binding of `run` of tensor t whose outer rows hold `perOuter` elements each. */
export function runBinding(t: Tensor, run: OuterRun, perOuter: number): BufferRef {
  const offset = t.byteOffset + run.start * perOuter * 4;
  const size = Math.max(16, Math.ceil((run.count * perOuter * 4) / 16) * 16);
  return { buffer: t.buffer, offset, size };
}

/** One operand of splitOuter: elements at `offset + Σ c_d·strides[d]` (strides ≥ 0, in `unitBytes` units). */
export interface SplitOperand {
  tensor: Tensor;
  offset: number;
  strides: readonly number[];
  /** The kernel indexes this operand from the run's first element (its window cannot start early to align). */
  exact?: boolean;
}

/** A run of the outermost iteration dim with each operand's binding and the run's first element in it. */
export interface SplitRun extends OuterRun {
  bindings: BufferRef[];
  offsets: number[];
}

/**
 * Splits the outermost dim of an iteration space so that every operand's window of a run fits one
 * binding. Operands whose whole tensor fits are bound whole (offsets then count from the tensor's
 * start); the others get a window starting at the storage-offset alignment at or before the run's
 * first element (`exact`: at it). One run when everything fits.
 */
export function splitOuter(op: string, dims: readonly number[], operands: SplitOperand[], unitBytes = 4): SplitRun[] {
  const e = engine();
  const align = e.limits.minStorageBufferOffsetAlignment ?? 256;
  const spans = operands.map((o) => o.strides.reduce((s, stride, d) => (d === 0 ? s : s + (dims[d]! - 1) * stride), 0));
  const windowed = operands.map((o) => o.tensor.binding.size > e.maxBindingBytes);
  const windows = operands.flatMap((o, i) => (windowed[i] ? [{ stride: o.strides[0]!, span: spans[i]!, exact: o.exact ?? false }] : []));
  for (const [i, o] of operands.entries()) {
    if (windowed[i] && o.exact && (o.tensor.byteOffset + o.offset * unitBytes) % align !== 0) throw new TakError(`Internal error: ${op} needs an aligned operand`);
  }
  const outer = dims[0]!;
  return runsOf(outer, windows.length ? runLength(op, outer, windows, unitBytes) : outer).map(({ start, count }) => {
    const bindings: BufferRef[] = [];
    const offsets: number[] = [];
    operands.forEach((o, i) => {
      const first = o.offset + start * o.strides[0]!;
      if (!windowed[i]) {
        bindings.push(o.tensor.binding);
        offsets.push(first);
        return;
      }
      const from = o.tensor.byteOffset + first * unitBytes;
      const bindStart = o.exact ? from : Math.floor(from / align) * align;
      const end = from + ((count - 1) * o.strides[0]! + spans[i]! + 1) * unitBytes;
      bindings.push({ buffer: o.tensor.buffer, offset: bindStart, size: Math.ceil((end - bindStart) / 16) * 16 });
      offsets.push((from - bindStart) / unitBytes);
    });
    return { start, count, bindings, offsets };
  });
}
