import { ones, zeros } from '../tensor/create.js';
import { add } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { TakError } from '../util/errors.js';
import * as F from './functional.js';
import { defaultUniform, fanIn, kaimingNormal, type InitScheme } from './init.js';
import { Module, type Layer } from './module.js';

/**
 * The torch.nn layers TAK uses, with PyTorch's parameter names, shapes and default initialisation,
 * so that `namedParameters()` of a model built from them equals the upstream state_dict keys.
 */

type Triple = number | [number, number, number];

export class Conv3d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: Triple,
    readonly options: { stride?: Triple; padding?: Triple; bias?: boolean; init?: InitScheme } = {},
  ) {
    super();
    const k = typeof kernel === 'number' ? [kernel, kernel, kernel] : kernel;
    const shape = [outChannels, inChannels, ...k];
    // `kaiming`: kaiming_normal_(weight) and a zero bias (nnU-Net's InitWeights_He, there with a = 0.01).
    const kaiming = options.init === 'kaiming';
    this.weight = this.param('weight', kaiming ? kaimingNormal(shape, fanIn(shape)) : defaultUniform(shape, fanIn(shape)));
    this.bias = options.bias === false ? null : this.param('bias', kaiming ? zeros([outChannels]) : defaultUniform([outChannels], fanIn(shape)));
  }
  forward(x: Tensor): Tensor {
    return F.conv3d(x, this.weight, this.bias, { stride: this.options.stride ?? 1, padding: this.options.padding ?? 0 });
  }
  /** Fused conv + bias + ReLU (the kernel's epilogue). */
  forwardRelu(x: Tensor): Tensor {
    return F.conv3d(x, this.weight, this.bias, { stride: this.options.stride ?? 1, padding: this.options.padding ?? 0, relu: true });
  }
}

export class ConvTranspose3d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly options: { stride?: number; padding?: number; bias?: boolean } = {},
  ) {
    super();
    // torch.nn.ConvTranspose3d stores weight [in, out, k, k, k]; PyTorch's fan_in is out·k³.
    const shape = [inChannels, outChannels, kernel, kernel, kernel];
    this.weight = this.param('weight', defaultUniform(shape, fanIn(shape)));
    this.bias = options.bias === false ? null : this.param('bias', defaultUniform([outChannels], fanIn(shape)));
  }
  forward(x: Tensor): Tensor {
    return F.convTranspose3d(x, this.weight, this.bias, { stride: this.options.stride ?? 1, padding: this.options.padding ?? 0 });
  }
}

export class Linear extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', defaultUniform([outFeatures, inFeatures], inFeatures));
    this.bias = options.bias === false ? null : this.param('bias', defaultUniform([outFeatures], inFeatures));
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/** torch.nn.InstanceNorm3d defaults: affine off, no running statistics, eps 1e-5. */
export class InstanceNorm3d extends Module implements Layer {
  constructor(readonly channels: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.instanceNorm3d(x, { relu: false });
  }
  /** relu(norm(x)), plus `residual` when given (added in the same pass). */
  forwardRelu(x: Tensor, residual: Tensor | null = null): Tensor {
    return F.instanceNorm3d(x, { relu: true, residual });
  }
}

export class GroupNorm extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    readonly groups: number,
    readonly channels: number,
  ) {
    super();
    if (channels % groups !== 0) throw new TakError(`GroupNorm(${groups}, ${channels}): channels must be divisible by groups`);
    this.weight = this.param('weight', ones([channels]));
    this.bias = this.param('bias', zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.groups, this.weight, this.bias, { relu: false });
  }
  forwardRelu(x: Tensor): Tensor {
    return F.groupNorm(x, this.groups, this.weight, this.bias, { relu: true });
  }
}

/** torch.nn.BatchNorm1d on [N, C]: batch statistics in training (running stats updated, momentum 0.1), running stats in eval. */
export class BatchNorm1d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly features: number) {
    super();
    this.weight = this.param('weight', ones([features]));
    this.bias = this.param('bias', zeros([features]));
    this.buffer('running_mean', zeros([features]));
    this.buffer('running_var', ones([features]));
    this.buffer('num_batches_tracked', zeros([], 'i32'));
  }
  forward(x: Tensor): Tensor {
    const buffers = new Map(this.namedBuffers());
    const out = F.batchNorm1d(x, this.weight, this.bias, buffers.get('running_mean')!, buffers.get('running_var')!, this.training);
    if (this.training) this.replaceBuffer('num_batches_tracked', add(buffers.get('num_batches_tracked')!, 1));
    return out;
  }
}

export class ReLU extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class LeakyReLU extends Module implements Layer {
  constructor(readonly slope: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.slope);
  }
}

/** AdaptiveAvgPool3d((1, 1, 1)): [N, C, D, H, W] → [N, C, 1, 1, 1]. */
export class AdaptiveAvgPool3d extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return F.globalAvgPool3d(x);
  }
}
