import type { Tensor } from '../tensor/tensor.js';
import { leakyRelu as leakyReluOp, relu as reluOp } from '../ops/elementwise.js';
import { conv3d as conv3dOp, type Conv3dOptions } from '../ops/conv.js';
import { convTranspose3d as convTranspose3dOp, type ConvTranspose3dOptions } from '../ops/conv-transpose.js';
import { batchNorm1d as batchNorm1dOp, groupNorm as groupNormOp, instanceNorm3d as instanceNormOp } from '../ops/norm.js';
import { adaptiveAvgPool3d } from '../ops/pool.js';
import { linear as linearOp } from '../ops/linear.js';
import { dynamicHead as dynamicHeadOp } from '../ops/dynamic-head.js';

/**
 * The functions the nn layers call, in torch.nn.functional's vocabulary: one place that maps the
 * layers onto the op families (so a layer never depends on an op module's internals).
 */

export function conv3d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv3dOptions): Tensor {
  return conv3dOp(x, weight, bias, options);
}

export function convTranspose3d(x: Tensor, weight: Tensor, bias: Tensor | null, options: ConvTranspose3dOptions): Tensor {
  return convTranspose3dOp(x, weight, bias, options);
}

/** y = x·Wᵀ + b for x [..., in], W [out, in] (torch.nn.functional.linear). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  return linearOp(x, weight, bias);
}

/**
 * InstanceNorm3d without affine parameters (torch defaults, eps 1e-5), optionally + ReLU and then
 * + a residual (both fused into the norm's pass).
 */
export function instanceNorm3d(x: Tensor, options: { relu: boolean; residual?: Tensor | null }): Tensor {
  return instanceNormOp(x, { relu: options.relu, residual: options.residual ?? null });
}

export function groupNorm(x: Tensor, groups: number, weight: Tensor, bias: Tensor, options: { relu: boolean }): Tensor {
  return groupNormOp(x, groups, { weight, bias, relu: options.relu });
}

/** BatchNorm1d over [N, C]; in training updates the running statistics in place (momentum 0.1). */
export function batchNorm1d(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, training: boolean): Tensor {
  return batchNorm1dOp(x, { weight, bias, runningMean, runningVar, training });
}

export function globalAvgPool3d(x: Tensor): Tensor {
  return adaptiveAvgPool3d(x, 1);
}

export function relu(x: Tensor): Tensor {
  return reluOp(x);
}

export function leakyRelu(x: Tensor, slope: number): Tensor {
  return leakyReluOp(x, slope);
}

/** Per-sample, per-class 3-layer 1×1×1 heads (method-spec §6): h [B, 8, ...], θ [B, K, 153] → [B, K, ...]. */
export function dynamicHead(h: Tensor, theta: Tensor): Tensor {
  return dynamicHeadOp(h, theta);
}
