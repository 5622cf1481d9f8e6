import type { Tensor } from '../tensor/tensor.js';
import { Conv3d, ConvTranspose3d, InstanceNorm3d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';

/**
 * The MagicNet variant of V-Net that TAK uses (networks/amos_magicnet_clip_contrast.py, method-spec
 * §3): conv3×3×3 (pad 1, bias) → InstanceNorm3d (affine off) → ReLU blocks, k2 s2 down-convs and
 * k2 s2 transposed up-convs, each followed by IN → ReLU, additive skips, no output conv. Module and
 * parameter names are upstream's (`block_one.conv.0.weight`, `block_five_up.conv.0.bias`, ...).
 */

/** n × (Conv3d k3 p1 → InstanceNorm3d → ReLU), as upstream's ConvBlock('instancenorm'). */
export class ConvBlock extends Module {
  private readonly stages: [Conv3d, InstanceNorm3d][] = [];
  constructor(stages: number, inChannels: number, outChannels: number) {
    super();
    const layers: (Conv3d | InstanceNorm3d | ReLU)[] = [];
    for (let i = 0; i < stages; i++) {
      const conv = new Conv3d(i === 0 ? inChannels : outChannels, outChannels, 3, { padding: 1 });
      const norm = new InstanceNorm3d(outChannels);
      layers.push(conv, norm, new ReLU());
      this.stages.push([conv, norm]);
    }
    this.child('conv', new Sequential(...layers));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const [conv, norm] of this.stages) {
      const z = conv.forward(y);
      if (y !== x) y.dispose();
      y = norm.forwardRelu(z); // InstanceNorm + ReLU fused
      z.dispose();
    }
    return y;
  }
}

/** Conv3d / ConvTranspose3d k2 s2 → InstanceNorm3d → ReLU (DownsamplingConvBlock / UpsamplingDeconvBlock). */
export class ResampleBlock extends Module {
  private readonly conv: Conv3d | ConvTranspose3d;
  private readonly norm: InstanceNorm3d;
  constructor(kind: 'down' | 'up', inChannels: number, outChannels: number) {
    super();
    this.conv = kind === 'down' ? new Conv3d(inChannels, outChannels, 2, { stride: 2 }) : new ConvTranspose3d(inChannels, outChannels, 2, { stride: 2 });
    this.norm = new InstanceNorm3d(outChannels);
    this.child('conv', new Sequential(this.conv, this.norm, new ReLU()));
  }
  /** relu(norm(conv(x))), plus `skip` when given (fused into the norm's pass). */
  forward(x: Tensor, skip: Tensor | null = null): Tensor {
    const z = this.conv.forward(x);
    const y = this.norm.forwardRelu(z, skip);
    z.dispose();
    return y;
  }
}

export type Features = [x1: Tensor, x2: Tensor, x3: Tensor, x4: Tensor, x5: Tensor];

/** Registers the V-Net blocks on `owner` with upstream's names; returns the encoder and decoder. */
export function buildVNet(owner: { child<M extends Module>(name: string, m: M): M }, nFilters: number, inChannels = 1) {
  const f = nFilters;
  const enc = {
    one: owner.child('block_one', new ConvBlock(1, inChannels, f)),
    oneDown: owner.child('block_one_dw', new ResampleBlock('down', f, 2 * f)),
    two: owner.child('block_two', new ConvBlock(2, 2 * f, 2 * f)),
    twoDown: owner.child('block_two_dw', new ResampleBlock('down', 2 * f, 4 * f)),
    three: owner.child('block_three', new ConvBlock(3, 4 * f, 4 * f)),
    threeDown: owner.child('block_three_dw', new ResampleBlock('down', 4 * f, 8 * f)),
    four: owner.child('block_four', new ConvBlock(3, 8 * f, 8 * f)),
    fourDown: owner.child('block_four_dw', new ResampleBlock('down', 8 * f, 16 * f)),
    five: owner.child('block_five', new ConvBlock(3, 16 * f, 16 * f)),
  };
  const dec = {
    fiveUp: owner.child('block_five_up', new ResampleBlock('up', 16 * f, 8 * f)),
    six: owner.child('block_six', new ConvBlock(3, 8 * f, 8 * f)),
    sixUp: owner.child('block_six_up', new ResampleBlock('up', 8 * f, 4 * f)),
    seven: owner.child('block_seven', new ConvBlock(3, 4 * f, 4 * f)),
    sevenUp: owner.child('block_seven_up', new ResampleBlock('up', 4 * f, 2 * f)),
    eight: owner.child('block_eight', new ConvBlock(2, 2 * f, 2 * f)),
    eightUp: owner.child('block_eight_up', new ResampleBlock('up', 2 * f, f)),
    nine: owner.child('block_nine', new ConvBlock(1, f, f)),
  };
  const encode = (x: Tensor): Features => {
    const x1 = enc.one.forward(x);
    const d1 = enc.oneDown.forward(x1);
    const x2 = enc.two.forward(d1);
    const d2 = enc.twoDown.forward(x2);
    const x3 = enc.three.forward(d2);
    const d3 = enc.threeDown.forward(x3);
    const x4 = enc.four.forward(d3);
    const d4 = enc.fourDown.forward(x4);
    const x5 = enc.five.forward(d4);
    for (const t of [d1, d2, d3, d4]) t.dispose();
    return [x1, x2, x3, x4, x5];
  };
  /** Up-conv of `x`, plus the skip `s` (upstream adds before the next block; here in the norm's pass). */
  const up = (block: ResampleBlock, x: Tensor, s: Tensor): Tensor => block.forward(x, s);
  const decode = ([x1, x2, x3, x4, x5]: Features): Tensor => {
    const u5 = up(dec.fiveUp, x5, x4);
    const x6 = dec.six.forward(u5);
    const u6 = up(dec.sixUp, x6, x3);
    const x7 = dec.seven.forward(u6);
    const u7 = up(dec.sevenUp, x7, x2);
    const x8 = dec.eight.forward(u7);
    const u8 = up(dec.eightUp, x8, x1);
    const x9 = dec.nine.forward(u8);
    for (const t of [u5, x6, u6, x7, u7, x8, u8]) t.dispose();
    return x9;
  };
  return { encode, decode };
}
