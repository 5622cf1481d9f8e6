import { Tensor, scope, keep, type GradNode } from '../tensor/tensor.js';
import { TakError, show } from '../util/errors.js';

/**
 * Reverse-mode autograd in the style of micrograd, over tensors: every differentiable op gives its
 * output a Node holding the op's VJP, its inputs (retained) and what the VJP saved (retained).
 * backward() walks the graph in reverse topological order, calls each VJP under no-grad,
 * accumulates gradients of tensors used more than once, and then releases the graph so the memory
 * of intermediates the caller already disposed is returned to the pool.
 */

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (evaluation, optimiser updates, EMA). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Async variant of noGrad (do not interleave with code that needs gradients). */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * A VJP: given the gradient of the output, the gradient for each input (null where none flows).
 * `into[j]`, when given, is input j's gradient so far, which the VJP may add its contribution to
 * in place and return (the same tensor) instead of a new one: backward() then skips the add.
 */
export type Vjp = (grad: Tensor, into?: readonly (Tensor | null)[]) => (Tensor | null)[];

/** A differentiable op's record: retains its inputs, owns the tensors its VJP saved. */
export class Node implements GradNode {
  private released = false;
  constructor(
    readonly op: string,
    readonly inputs: readonly Tensor[],
    readonly vjp: Vjp,
    private readonly saved: readonly Tensor[],
  ) {
    for (const t of inputs) t.retain();
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.inputs) t.drop();
    for (const t of this.saved) t.dispose();
  }
}

/**
 * Attaches a Node to `output` when gradients are on and any input requires them. `saved` are
 * tensors the VJP reads besides the inputs (e.g. a view of the output for exp/sigmoid); the node
 * takes them over (they are disposed with it, or at once when nothing is recorded). They must not
 * be the output tensor itself (that would be a cycle): pass Tensor.view(output, shape).
 */
export function record(op: string, output: Tensor, inputs: readonly Tensor[], vjp: Vjp, saved: readonly Tensor[] = []): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) {
    for (const t of saved) t.dispose();
    return output;
  }
  output.requiresGrad = true;
  // The node owns `saved` from here on: an enclosing scope() must not dispose them before backward.
  for (const t of saved) keep(t);
  output.gradFn = new Node(op, inputs, vjp, saved);
  return output;
}

/** Hooks the ops layer provides so autograd can add and fill without importing it (layering). */
export interface GradArithmetic {
  add(a: Tensor, b: Tensor): Tensor;
  onesLike(t: Tensor): Tensor;
}
let arithmetic: GradArithmetic | null = null;
export function setGradArithmetic(impl: GradArithmetic): void {
  arithmetic = impl;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.gradFn && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

export interface BackwardOptions {
  /** Keep the graph for another backward() through it. */
  retainGraph?: boolean;
}

/**
 * Accumulates d(root)/d(leaf) · seed into `leaf.grad` for every leaf with requiresGrad.
 * `seed` defaults to ones (so a scalar loss needs none); it is not disposed.
 */
export function backward(root: Tensor, seed?: Tensor, options: BackwardOptions = {}): void {
  if (!arithmetic) throw new TakError('autograd used before the ops module was loaded (import from tak-wgpu\'s index)');
  const ops = arithmetic;
  root.live();
  if (!root.requiresGrad) {
    throw new TakError(`backward() on ${root}: it does not require gradients (no input of its graph has requiresGrad = true)`);
  }
  if (seed && (seed.shape.length !== root.shape.length || seed.shape.some((d, i) => d !== root.shape[i]))) {
    throw new TakError(`backward(): seed shape ${show([...seed.shape])} differs from output shape ${show([...root.shape])}`);
  }
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(root, seed ?? ops.onesLike(root));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn as Node | null;
      if (!node) {
        if (g !== seed) g.dispose();
        continue;
      }
      // A VJP may pass `g` (or one tensor) through to several inputs; give each its own handle
      // (a view: no copy) so disposing one cannot free another's gradient.
      const seen = new Set<Tensor>([g]);
      // Gradients so far that nothing else holds may be accumulated by the VJP's own kernels (the
      // conv weight gradient adds into dW, the conv input gradient and the slice VJP into an
      // activation's gradient): one full-size add dispatch fewer per use. An input that appears
      // twice is offered once.
      const into = node.inputs.map((input, j) => {
        if (!input.requiresGrad || node.inputs.indexOf(input) !== j) return null;
        const soFar = input.gradFn ? grads.get(input) : input.grad;
        return soFar?.ownsMemory && soFar !== seed ? soFar : null;
      });
      const inputGrads = scope(() =>
        node.vjp(g, into).map((gi) => {
          if (!gi || !seen.has(gi)) return gi && (seen.add(gi), gi);
          return Tensor.view(gi, gi.shape);
        }),
      );
      if (g !== seed) g.dispose();
      node.inputs.forEach((input, j) => {
        const gi = inputGrads[j] ?? null;
        if (!gi || gi === into[j]) return;
        if (!input.requiresGrad) {
          gi.dispose();
          return;
        }
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, k) => d !== input.shape[k])) {
          throw new TakError(
            `Internal error in the VJP of ${node.op}: gradient shape ${show([...gi.shape])} for input ${j} of shape ${show([...input.shape])}`,
          );
        }
        if (input.gradFn) {
          const previous = grads.get(input);
          grads.set(input, previous ? sumAndDispose(ops, previous, gi) : gi);
        } else {
          input.grad = keep(input.grad ? sumAndDispose(ops, input.grad, gi) : gi);
        }
      });
    }
  });
  for (const g of grads.values()) if (g !== seed) g.dispose();
  if (!options.retainGraph) {
    for (const t of order) {
      const node = t.gradFn;
      t.gradFn = null;
      node?.release();
    }
  }
}

function sumAndDispose(ops: GradArithmetic, a: Tensor, b: Tensor): Tensor {
  const s = ops.add(a, b);
  a.dispose();
  b.dispose();
  return s;
}

/** A tensor with the same data that is cut from the graph (a view: no copy). */
export function detach(t: Tensor): Tensor {
  return Tensor.view(t, t.shape);
}
