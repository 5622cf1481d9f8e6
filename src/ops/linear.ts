import type { Tensor } from '../tensor/tensor.js';
import { fromArray, ones, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { add, relu } from './elementwise.js';
import { matmulTransposed } from './matmul.js';
import { groupNorm } from './norm.js';
import { adaptiveAvgPool3d } from './pool.js';
import { defineComposite } from './registry.js';
import { reshape } from './shape.js';

/**
 * Dense layers of TAK's text side and head conditioning (method-spec §6): linear, the ReLU MLP
 * (text_to_C = ReLU(Linear), text_to_vision), and the GAP_C block. Compositions of matmul,
 * GroupNorm (ReLU fused), global average pooling and broadcasting add, registered with gradient
 * checks. Intermediates stay alive for the VJPs; an enclosing scope() disposes them.
 */

function checkLinear(x: Tensor, weight: Tensor, bias: Tensor | null): void {
  x.live();
  weight.live();
  if (weight.ndim !== 2 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new TakError(`linear: weight ${show([...weight.shape])} must be [out, ${x.shape[x.ndim - 1]}] for input ${show([...x.shape])}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new TakError(`linear: bias ${show([...bias.shape])} must be [${weight.shape[0]}]`);
  }
}

/** y = x·Wᵀ + b for x [..., in], W [out, in], b [out] (torch.nn.functional.linear). */
export const linear: (x: Tensor, weight: Tensor, bias?: Tensor | null) => Tensor = defineComposite(
  'linear',
  'linear',
  (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => {
    checkLinear(x, weight, bias);
    // The GEMM reads W transposed: no copy of the weights per call.
    const y = matmulTransposed(x, weight);
    return bias ? add(y, bias) : y;
  },
  [
    { label: '3x5 -> 4, bias', inputs: () => [randn([3, 5]), randn([4, 5]), randn([4])] },
    { label: '2x3x6 -> 2, no bias', inputs: () => [randn([2, 3, 6]), randn([2, 6])], fn: (x, w) => linear(x, w!) },
  ],
);

export interface DenseLayer {
  weight: Tensor;
  bias?: Tensor | null;
}

/**
 * Linear layers with ReLU between them; with `reluLast` also after the last one (upstream's
 * text projectors text_to_C are ReLU(Linear)).
 */
export const mlp: (x: Tensor, layers: readonly DenseLayer[], options?: { reluLast?: boolean }) => Tensor = defineComposite(
  'mlp',
  'linear',
  (x: Tensor, layers: readonly DenseLayer[], options: { reluLast?: boolean } = {}): Tensor => {
    if (layers.length === 0) throw new TakError('mlp needs at least one layer');
    let y = x;
    layers.forEach((layer, i) => {
      y = linear(y, layer.weight, layer.bias ?? null);
      if (i < layers.length - 1 || options.reluLast) y = relu(y);
    });
    return y;
  },
  [
    {
      label: '4x6 -> 5 -> 3, ReLU after both',
      // Biases ±1 keep the hidden pre-activations away from ReLU's kink.
      inputs: () => [randn([4, 6], 0, 0.3), randn([5, 6], 0, 0.3), randn([5], 0, 1), randn([3, 5], 0, 0.5), randn([3], 0, 1)],
      fn: (x, w1, b1, w2, b2) => mlp(x, [{ weight: w1!, bias: b1! }, { weight: w2!, bias: b2! }], { reluLast: true }),
      atol: 5e-3,
    },
  ],
);

export interface GapBlockParams {
  /** GroupNorm(16, C) affine weight and bias [C]. */
  normWeight: Tensor;
  normBias: Tensor;
  /** Conv1×1 C→E as [E, C] (or the conv's [E, C, 1, 1, 1]) and its bias [E]. */
  projWeight: Tensor;
  projBias: Tensor;
}

/**
 * GAP_C (method-spec §6.2): GroupNorm(min(16, C), C) → ReLU → AdaptiveAvgPool3d(1) → Conv1×1
 * C→E on x [B, C, d, h, w] → [B, E]; TAK averages three of them (C = 64, 128, 256) into the
 * global image feature that conditions the controller.
 */
export const gapBlock: (x: Tensor, params: GapBlockParams) => Tensor = defineComposite(
  'gap_block',
  'linear',
  (x: Tensor, params: GapBlockParams): Tensor => {
    x.live();
    if (x.ndim !== 5) throw new TakError(`gapBlock: input must be [B, C, d, h, w], got ${show([...x.shape])}`);
    const [b, c] = x.shape as [number, number];
    const normalised = groupNorm(x, Math.min(16, c), { weight: params.normWeight, bias: params.normBias, relu: true });
    const pooled = reshape(adaptiveAvgPool3d(normalised, 1), [b, c]);
    const w = params.projWeight.ndim === 2 ? params.projWeight : reshape(params.projWeight, [params.projWeight.shape[0]!, c]);
    return linear(pooled, w, params.projBias);
  },
  [
    {
      label: '2x32x1x2x1 -> 3 (GroupNorm 16 groups of 2)',
      // GroupNorm biases ±4 keep every channel on one side of ReLU's kink under the step.
      inputs: () => [randn([2, 32, 1, 2, 1]), ones([32]), fromArray(Float32Array.from({ length: 32 }, (_, i) => (i % 3 ? 4 : -4))), randn([3, 32], 0, 0.3), randn([3])],
      fn: (x, gw, gb, pw, pb) => gapBlock(x, { normWeight: gw!, normBias: gb!, projWeight: pw!, projBias: pb! }),
      wrt: [0, 2, 3, 4],
      atol: 5e-3,
    },
  ],
);
