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

/**
 * Runs of the outer axis such that every tensor's slice (`elementsPerOuter[i]` f32/i32 elements
 * per outer index) fits one binding and starts on the storage-offset alignment.
 */
export function outerRuns(op: string, outer: number, elementsPerOuter: readonly number[]): OuterRun[] {
  const e = engine();
  const maxBytes = Math.min(e.maxBindingBytes, bindingCap ?? Infinity);
  const align = e.limits.minStorageBufferOffsetAlignment ?? 256;
  let step = 1;
  let fit = outer;
  for (const per of elementsPerOuter) {
    const bytes = per * 4;
    if (bytes === 0) continue;
    step = lcm(step, align / gcd(bytes, align));
    fit = Math.min(fit, Math.floor((maxBytes - 16) / bytes));
  }
  if (fit >= outer) return [{ start: 0, count: outer }];
  const count = Math.floor(fit / step) * step;
  if (count === 0) {
    throw new TakError(
      `${op}: one slice along the first axis needs ${Math.max(...elementsPerOuter) * 4} bytes, over this adapter's ` +
        `maxStorageBufferBindingSize of ${maxBytes} bytes (or cannot start on its ${align}-byte offset alignment). ` +
        'Use a smaller patch, or an adapter with a larger binding limit.',
    );
  }
  const runs: OuterRun[] = [];
  for (let start = 0; start < outer; start += count) runs.push({ start, count: Math.min(count, outer - start) });
  return runs;
}

let bindingCap: number | null = null;

/**
 * Caps the bytes per binding below the adapter's limit (null: the adapter's limit), so tests can
 * exercise the split path on small tensors. Returns the previous cap.
 */
export function capBindingBytes(bytes: number | null): number | null {
  const previous = bindingCap;
  bindingCap = bytes;
  return previous;
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
