import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor } from '../tensor/tensor.js';
import { fromArray, full, zeros } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';

/**
 * Deterministic top-K selection on the GPU (kernels/radix_select.wgsl): three histogram passes
 * over 11/11/10-bit digits of order-preserving keys of the f32 bits find the K-th largest value T,
 * then a tie pass finds the index cutoff, so exactly K elements are selected — all values above T
 * and the first (lowest-index) ties at T. The result is a small u32 state tensor that consumers
 * test per element (`key > T || (key == T && index < cutoff)`), so no mask or sort is written and
 * nothing is read back to the CPU. GA cross-entropy's top 10 % (method-spec §4) uses it.
 */

const WG = 64;
const PER = 16;
const BINS = 2048;
const PASSES = [
  { shift: 21, bits: 11 },
  { shift: 10, bits: 11 },
  { shift: 0, bits: 10 },
] as const;
const MODE = { hist: 0, find: 1, ties: 2, cutoff: 3 } as const;

/** State [T key, cutoff index, remaining ties, mask] selecting the `k` largest of `values`. */
export function radixSelect(values: Tensor, k: number): Tensor {
  values.live();
  if (values.dtype !== 'f32') throw new TakError(`radixSelect needs f32 values, got ${values.dtype}${show([...values.shape])}`);
  const n = values.size;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new TakError(`radixSelect: k must be an integer in [0, ${n}], got ${k}`);
  // No key exceeds 0xffffffff and the cutoff 0 admits no tie: nothing is selected.
  if (k === 0) return fromArray(new Uint32Array([0xffffffff, 0, 0, 0xffffffff]), [4], 'u32');
  const e = engine();
  const blocks = Math.ceil(n / (WG * PER));
  const state = Tensor.empty([4], 'u32');
  const hist = zeros([BINS], 'u32');
  const ties = Tensor.empty([blocks], 'u32');
  const bindings = { values: values.binding, hist: hist.binding, state: state.binding, ties: ties.binding };
  const kernel = (mode: number) => e.kernel({ file: 'radix_select', constants: { MODE: mode, WG, PER, BINS } });
  PASSES.forEach(({ shift, bits }, pass) => {
    const params = { n, k, shift, digit_mask: (1 << bits) - 1, first: pass === 0 ? 1 : 0, blocks };
    e.dispatch(kernel(MODE.hist), bindings, params, grid(blocks));
    e.dispatch(kernel(MODE.find), bindings, params, [1]);
  });
  const params = { n, k, shift: 0, digit_mask: 0, first: 0, blocks };
  e.dispatch(kernel(MODE.ties), bindings, params, grid(blocks));
  e.dispatch(kernel(MODE.cutoff), bindings, params, [1]);
  hist.dispose();
  ties.dispose();
  return state;
}

/** 1 where an element is among the k largest (ties by lowest index), else 0; same shape. */
export function topkMask(values: Tensor, k: number): Tensor {
  const state = radixSelect(values, k);
  const labels = zeros([values.size], 'i32');
  const one = full([1], 1);
  const mask = selectedClassWeights(values, labels, state, one, 1);
  for (const t of [state, labels, one]) t.dispose();
  return mask;
}

/**
 * out[i] = coef[labels[i]] for the selected elements (labels outside [0, classes) get 0), else 0:
 * the gradient of a per-class weighted sum over the selection (kernels/class_grad.wgsl, MODE 1).
 */
export function selectedClassWeights(values: Tensor, labels: Tensor, state: Tensor, coef: Tensor, classes: number): Tensor {
  const n = values.size;
  const out = Tensor.empty(values.shape, 'f32');
  if (n === 0) return out;
  const vec = n % 4 === 0 ? 4 : 1;
  const e = engine();
  const kernel = e.kernel({ file: 'class_grad', constants: { MODE: 1, VEC: vec, WG } });
  const work = n / vec;
  e.dispatch(
    kernel,
    { values: values.binding, labels: labels.binding, state: state.binding, coef: coef.binding, y: out.binding },
    { c: classes, inner: n, work },
    grid(Math.ceil(work / WG)),
  );
  return out;
}
