import { noGrad, record, type Vjp } from '../autograd/graph.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The op table. Every op is defined once with its forward dispatch and its VJP side by side;
 * `defineOp` wraps them into the function users call (checks inputs, runs the forward without
 * recording, attaches the VJP node) and lists the op with its gradient-check cases, which is what
 * `tak-wgpu gradcheck` and the test suite iterate over.
 */

export interface GradcheckCase {
  /** Shown in the gradcheck table next to the op name. */
  label: string;
  /** Builds small random inputs (float inputs are differentiated; others are held constant). */
  inputs: () => Tensor[];
  /** The function to differentiate; defaults to the op itself. */
  fn?: (...inputs: Tensor[]) => Tensor;
  /** Indices of inputs to check (default: every f32 input). */
  wrt?: number[];
  eps?: number;
  atol?: number;
  rtol?: number;
}

export interface OpEntry {
  name: string;
  family: string;
  differentiable: boolean;
  cases: GradcheckCase[];
  /** The op itself (what a case without `fn` differentiates). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fn: (...args: any[]) => Tensor;
}

/** What an op's forward returns: the output, and when it is differentiable the VJP and its inputs. */
export interface Forward {
  out: Tensor;
  /** Tensors gradients flow to, in the order the VJP returns them. */
  inputs?: readonly Tensor[];
  vjp?: Vjp;
  /** Extra tensors the VJP reads (views, not the output itself); retained by the graph. */
  saved?: Tensor[];
}

const table = new Map<string, OpEntry>();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function defineOp<F extends (...args: any[]) => Tensor>(
  spec: { name: string; family: string; forward: (...args: Parameters<F>) => Forward; gradcheck?: GradcheckCase[] },
): F {
  const run = (...args: Parameters<F>): Tensor => {
    const result = noGrad(() => spec.forward(...args));
    if (!result.vjp || !result.inputs) return result.out;
    return record(spec.name, result.out, result.inputs, result.vjp, result.saved);
  };
  Object.defineProperty(run, 'name', { value: spec.name });
  const cases = spec.gradcheck ?? [];
  table.set(spec.name, { name: spec.name, family: spec.family, differentiable: cases.length > 0, cases, fn: run as OpEntry['fn'] });
  return run as F;
}

/** Registers gradient checks for a function composed of other ops (no kernel of its own). */
export function defineComposite<F extends (...args: never[]) => Tensor>(name: string, family: string, fn: F, gradcheck: GradcheckCase[]): F {
  table.set(name, { name, family, differentiable: gradcheck.length > 0, cases: gradcheck, fn: fn as unknown as OpEntry['fn'] });
  return fn;
}

export function registeredOps(): OpEntry[] {
  return [...table.values()];
}
