import { rand, randn } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * PyTorch's default initialisation of Conv/Linear layers (reset_parameters):
 * kaiming_uniform_(a=√5) gives U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1+5)), i.e.
 * b = 1/√fan_in; the bias is U(−1/√fan_in, 1/√fan_in). fan_in = weight.size(1)·∏kernel, which for
 * ConvTranspose (weight [in, out, k…]) is out·∏kernel — PyTorch's quirk, kept. Draws come from the
 * global seeded generator (manualSeed).
 */
export function defaultUniform(shape: readonly number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return rand(shape, -bound, bound);
}

/** How a layer's weights and bias start: PyTorch's default (defaultUniform) or kaimingNormal with a zero bias. */
export type InitScheme = 'pytorch' | 'kaiming';

/** torch.nn.init.kaiming_normal_ defaults (a = 0, fan_in, leaky_relu → ReLU gain √2): N(0, 2/fan_in). */
export function kaimingNormal(shape: readonly number[], fanIn: number): Tensor {
  return randn(shape, 0, Math.sqrt(2 / fanIn));
}

export function fanIn(weightShape: readonly number[]): number {
  return weightShape.slice(1).reduce((p, d) => p * d, 1);
}
