import { Tensor, asyncScope, scope } from '../tensor/tensor.js';
import { fromArray } from '../tensor/create.js';
import { Rng } from '../util/random.js';
import { backward, noGrad } from './graph.js';

export interface GradcheckOptions {
  /** Central-difference step (default 1e-2: float32 forward passes need a large step). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Inputs to check (default: every f32 input). */
  wrt?: number[];
  /** Seed of the random cotangent. */
  seed?: number;
}

export interface InputReport {
  input: number;
  shape: number[];
  maxAbsError: number;
  maxRelError: number;
  /** Largest |numeric gradient| (for scale). */
  maxGrad: number;
  pass: boolean;
}

export interface GradcheckReport {
  pass: boolean;
  inputs: InputReport[];
}

function toFloat64(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values);
}

/**
 * Checks the VJPs of `fn` at `inputs` against central differences. A random cotangent v (fixed
 * seed) turns the output into the scalar L = Σ v·fn(x); the analytic gradient of L comes from
 * backward(), the numeric one from (L(x + eps·e_k) − L(x − eps·e_k)) / 2eps per element, where both
 * forward passes run on the engine and L is accumulated in float64 on the CPU. An element passes
 * when |analytic − numeric| ≤ atol + rtol·|numeric|.
 */
export async function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): Promise<GradcheckReport> {
  const eps = options.eps ?? 1e-2;
  const atol = options.atol ?? 2e-3;
  const rtol = options.rtol ?? 2e-2;
  const wrt = options.wrt ?? inputs.map((t, i) => (t.dtype === 'f32' ? i : -1)).filter((i) => i >= 0);
  const values = await Promise.all(inputs.map((t) => t.toArray()));

  // Analytic: backward of L = Σ v·y.
  const leaves = inputs.map((t, i) => {
    const leaf = fromArray(values[i]!, t.shape, t.dtype);
    leaf.requiresGrad = wrt.includes(i);
    return leaf;
  });
  const analytic: Float64Array[] = [];
  let cotangent: Float64Array;
  try {
    cotangent = await asyncScope(async () => {
      const y = fn(...leaves);
      const rng = new Rng(options.seed ?? 7);
      const v = new Float32Array(y.size);
      rng.fillNormal(v);
      const seed = fromArray(v, y.shape);
      backward(y, seed);
      for (const i of wrt) {
        const grad = leaves[i]!.grad;
        analytic[i] = grad ? toFloat64(await grad.toArray()) : new Float64Array(leaves[i]!.size);
      }
      return toFloat64(v);
    });
  } finally {
    for (const leaf of leaves) leaf.dispose();
  }

  // Numeric: perturb one element at a time.
  const evaluate = async (perturbed: number, index: number, delta: number): Promise<number> => {
    const y = scope(() =>
      noGrad(() => {
        const xs = inputs.map((t, i) => {
          if (i !== perturbed) return t;
          const data = Float32Array.from(values[i]! as Float32Array);
          data[index] = data[index]! + delta;
          return fromArray(data, t.shape);
        });
        return fn(...xs);
      }),
    );
    const out = await y.toArray();
    y.dispose();
    let l = 0;
    for (let k = 0; k < out.length; k++) l += cotangent[k]! * out[k]!;
    return l;
  };

  const reports: InputReport[] = [];
  for (const i of wrt) {
    const n = inputs[i]!.size;
    let maxAbs = 0;
    let maxRel = 0;
    let maxGrad = 0;
    let pass = true;
    for (let k = 0; k < n; k++) {
      const numeric = ((await evaluate(i, k, eps)) - (await evaluate(i, k, -eps))) / (2 * eps);
      const a = analytic[i]![k]!;
      const abs = Math.abs(a - numeric);
      maxAbs = Math.max(maxAbs, abs);
      maxRel = Math.max(maxRel, abs / Math.max(Math.abs(numeric), 1e-6));
      maxGrad = Math.max(maxGrad, Math.abs(numeric));
      if (!(abs <= atol + rtol * Math.abs(numeric))) pass = false;
    }
    reports.push({ input: i, shape: [...inputs[i]!.shape], maxAbsError: maxAbs, maxRelError: maxRel, maxGrad, pass });
  }
  return { pass: reports.every((r) => r.pass), inputs: reports };
}
