import type { Tensor } from '../tensor/tensor.js';
import { add, mul, relu } from '../ops/elementwise.js';
import { concat, reshape, slice, unsqueeze } from '../ops/shape.js';
import * as F from '../nn/functional.js';
import { AdaptiveAvgPool3d, BatchNorm1d, Conv3d, GroupNorm, InstanceNorm3d, LeakyReLU, Linear, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import type { InitScheme } from '../nn/init.js';
import { TakError } from '../util/errors.js';
import { buildVNet, type Features } from './vnet.js';

/** Network configuration (the paper's is nFilters 16, 16 classes, patch 96, 3³ cubes). */
export interface TakNetConfig {
  classes: number;
  nFilters: number;
  patch: number;
  /** Cubes per axis (3 in MagicNet): cube edge = patch / cubes. */
  cubes: number;
  /** false: the MagicNet + GA baseline head (a 1×1×1 conv), no text, no contrastive projectors. */
  text: boolean;
  /** Width of the text embeddings (512 for BiomedCLIP and USE-lite). */
  textDim: number;
  /**
   * The controller's initialisation (default `pytorch`, upstream's). Its outputs are the weights
   * and biases of three stacked 1×1×1 layers per class: under PyTorch's default init they are
   * ~0.04 and dominated by the controller's bias, which is the same for every class, so the
   * logits start within ~0.015 of each other and the decoder's gradients are ~1e-5. `kaiming`
   * (He normal, zero bias) makes θ a function of the image and class inputs at a scale the
   * three layers pass signal through (README, "What the cpu preset can and cannot show").
   */
  controllerInit?: InitScheme;
}

/** Dynamic head parameters per class: W1 64, W2 64, W3 8, b1 8, b2 8, b3 1 (method-spec §6). */
export const DYNAMIC_PARAMS = 153;

/**
 * GAP_C (method-spec §6.2): GroupNorm(16, C) → ReLU → AdaptiveAvgPool3d(1) → Conv1×1 C→E, a
 * Sequential as upstream (`GAP_128.0.weight`, `GAP_128.3.bias`), run with GN+ReLU fused.
 */
class GlobalFeature extends Sequential {
  private readonly norm: GroupNorm;
  private readonly proj: Conv3d;
  constructor(channels: number, out: number) {
    const norm = new GroupNorm(Math.min(16, channels), channels);
    const proj = new Conv3d(channels, out, 1);
    super(norm, new ReLU(), new AdaptiveAvgPool3d(), proj);
    this.norm = norm;
    this.proj = proj;
  }
  /** [B, C, d, h, w] → [B, E]. */
  override forward(x: Tensor): Tensor {
    const n = this.norm.forwardRelu(x);
    const pooled = F.globalAvgPool3d(n); // [B, C, 1, 1, 1]
    const flat = reshape(pooled, [x.shape[0]!, x.shape[1]!]);
    const w = reshape(this.proj.weight, [this.proj.outChannels, this.proj.inChannels]);
    const y = F.linear(flat, w, this.proj.bias);
    for (const t of [n, pooled, flat, w]) t.dispose();
    return y;
  }
}

/** features_to_C (method-spec §7): conv1×1 → InstanceNorm3d → ReLU → conv1×1, IN+ReLU fused. */
class FeatureProjector extends Sequential {
  private readonly first: Conv3d;
  private readonly norm: InstanceNorm3d;
  private readonly second: Conv3d;
  constructor(channels: number) {
    const first = new Conv3d(channels, channels, 1);
    const norm = new InstanceNorm3d(channels);
    const second = new Conv3d(channels, channels, 1);
    super(first, norm, new ReLU(), second);
    this.first = first;
    this.norm = norm;
    this.second = second;
  }
  override forward(x: Tensor): Tensor {
    const a = this.first.forward(x);
    const b = this.norm.forwardRelu(a);
    const c = this.second.forward(b);
    a.dispose();
    b.dispose();
    return c;
  }
}

/**
 * MagicNet's FcLayer (cube-location head, method-spec §3): flatten the bottleneck of one cube →
 * Linear (no bias in TAK) → BatchNorm1d(4096) → LeakyReLU(0.2) → Linear(→ cubes³). Keys
 * `fc_layer.fc_layer.N.*` as upstream (an FcLayer module holding a Sequential named fc_layer).
 */
class LocationHead extends Module {
  private readonly fc1: Linear;
  private readonly bn: BatchNorm1d;
  private readonly fc2: Linear;
  constructor(inFeatures: number, positions: number) {
    super();
    this.fc1 = new Linear(inFeatures, 4096, { bias: false });
    this.bn = new BatchNorm1d(4096);
    this.fc2 = new Linear(4096, positions);
    this.child('fc_layer', new Sequential(this.fc1, this.bn, new LeakyReLU(0.2), this.fc2));
  }
  /** Location logits [N, positions] from the bottleneck x5 [N, 16f, s, s, s] of N cubes. */
  forward(x5: Tensor): Tensor {
    const flat = reshape(x5, [x5.shape[0]!, -1]);
    const a = this.fc1.forward(flat);
    const b = this.bn.forward(a);
    const c = F.leakyRelu(b, 0.2);
    const out = this.fc2.forward(c);
    for (const x of [flat, a, b, c]) x.dispose();
    return out;
  }
}

/** The deep encoder features x3, x4, x5 (the head's global feature and the contrastive stages). */
export type Deep = [x3: Tensor, x4: Tensor, x5: Tensor];

export function deep(features: Features): Deep {
  return [features[2], features[3], features[4]];
}

export interface TextEmbeddings {
  /** Per-class condition [C, E] (text_to_vision of [shape | position] rows). */
  clip: Tensor;
  /** Text anchors per contrastive stage: [2C, 4f], [2C, 8f], [2C, 16f] (text_to_64/128/256). */
  anchors: [Tensor, Tensor, Tensor];
}

/**
 * VNet_Magic_CLIP_2p_Contrast (networks/amos_magicnet_clip_contrast.py): V-Net encoder/decoder,
 * MagicNet's cube-location head, the text-driven dynamic segmentation head and the contrastive
 * projectors, with upstream's module names so `namedParameters()` are its state_dict keys.
 */
export class TakNet extends Module {
  readonly encode: (x: Tensor) => Features;
  readonly decode: (f: Features) => Tensor;
  private readonly location: LocationHead;
  private readonly text?: {
    to64: Linear; to128: Linear; to256: Linear; toVision: Linear;
    gap: [GlobalFeature, GlobalFeature, GlobalFeature];
    controller: Conv3d;
    preNorm: GroupNorm; preConv: Conv3d;
    projectors: [FeatureProjector, FeatureProjector, FeatureProjector];
  };
  private readonly outConv?: Conv3d;

  constructor(readonly config: TakNetConfig) {
    super();
    const f = config.nFilters;
    const edge = config.patch / config.cubes;
    if (!Number.isInteger(edge) || edge % 16 !== 0) {
      throw new TakError(`patch ${config.patch} / ${config.cubes} cubes per axis gives cube edge ${edge}; it must be a multiple of 16 (four 2× down-samplings)`);
    }
    this.location = this.child('fc_layer', new LocationHead(16 * f * (edge / 16) ** 3, config.cubes ** 3));
    const vnet = buildVNet({ child: (name, m) => this.child(name, m) }, f);
    this.encode = vnet.encode;
    this.decode = vnet.decode;
    if (!config.text) {
      this.outConv = this.child('out_conv', new Conv3d(f, config.classes, 1));
      return;
    }
    const e = 16 * f; // the head's embedding width: 256 for the paper's n_filters = 16
    const linear = (name: string, a: number, b: number) => {
      const l = new Linear(a, b);
      this.child(name, new Sequential(l, new ReLU()));
      return l;
    };
    const to64 = linear('text_to_64', config.textDim, 4 * f);
    const to128 = linear('text_to_128', config.textDim, 8 * f);
    const to256 = linear('text_to_256', config.textDim, e);
    const toVision = linear('text_to_vision', 2 * e, e);
    const gap = (name: string, c: number) => this.child(name, new GlobalFeature(c, e));
    const gaps: [GlobalFeature, GlobalFeature, GlobalFeature] = [gap('Gap_64', 4 * f), gap('GAP_128', 8 * f), gap('GAP_256', 16 * f)];
    const controller = this.child('controller', new Conv3d(2 * e, DYNAMIC_PARAMS, 1, { init: config.controllerInit ?? 'pytorch' }));
    const preNorm = new GroupNorm(Math.min(16, f), f);
    const preConv = new Conv3d(f, 8, 1);
    this.child('precls_conv', new Sequential(preNorm, new ReLU(), preConv));
    const projector = (name: string, c: number) => this.child(name, new FeatureProjector(c));
    const projectors: [FeatureProjector, FeatureProjector, FeatureProjector] = [
      projector('features_to_64', 4 * f), projector('features_to_128', 8 * f), projector('features_to_256', 16 * f),
    ];
    this.text = { to64, to128, to256, toVision, gap: gaps, controller, preNorm, preConv, projectors };
  }

  /** Parameters used only in training (the contrastive projectors), excluded from the paper's 18.5M. */
  get trainingOnlyParameters(): string[] {
    return this.namedParameters().map(([k]) => k).filter((k) => k.startsWith('features_to_'));
  }

  /** text rows [2C, D] ([shape_0..C−1, position_0..C−1]) → class conditions and contrastive anchors. */
  embedText(rows: Tensor): TextEmbeddings {
    const t = this.requireText();
    const c = this.config.classes;
    const t256 = relu(F.linear(rows, t.to256.weight, t.to256.bias));
    const halves = concat([slice(t256, [[0, c], null]), slice(t256, [[c, 2 * c], null])], 1); // [C, 2E]
    const clip = relu(F.linear(halves, t.toVision.weight, t.toVision.bias));
    halves.dispose();
    const t64 = relu(F.linear(rows, t.to64.weight, t.to64.bias));
    const t128 = relu(F.linear(rows, t.to128.weight, t.to128.bias));
    return { clip, anchors: [t64, t128, t256] };
  }

  /** features_to_{64,128,256} of the deep features x3, x4, x5. */
  project([x3, x4, x5]: Deep): Deep {
    const t = this.requireText();
    return [t.projectors[0].forward(x3), t.projectors[1].forward(x4), t.projectors[2].forward(x5)];
  }

  /** Segmentation logits of an image batch: encoder, decoder and head (the teacher's forward). */
  forward(x: Tensor, textRows: Tensor | null): Tensor {
    const features = this.encode(x);
    const text = this.config.text && textRows ? this.embedText(textRows) : null;
    const x9 = this.decode(features);
    const logits = this.head(deep(features), x9, text);
    for (const t of [...features, x9, ...(text ? [text.clip, ...text.anchors] : [])]) t.dispose();
    return logits;
  }

  /**
   * Segmentation logits [B, C, D, H, W] from the deep encoder features (x3, x4, x5: the global
   * image feature) and the decoder output x9: forward_prediction_head (method-spec §6).
   */
  head([x3, x4, x5]: Deep, x9: Tensor, text: TextEmbeddings | null): Tensor {
    if (!this.config.text) return this.outConv!.forward(x9);
    const t = this.requireText();
    if (!text) throw new TakError('The text-driven head needs text embeddings (embedText)');
    const [g3, g4, g5] = [t.gap[0].forward(x3), t.gap[1].forward(x4), t.gap[2].forward(x5)];
    const g = mul(add(add(g3, g4), g5), 1 / 3); // [B, E]
    // controller(cat[g_b, clip_c]) as two half-matmuls: θ[b, c] = Wg·g_b + We·clip_c + bias.
    const e = 16 * this.config.nFilters;
    const w = reshape(t.controller.weight, [DYNAMIC_PARAMS, 2 * e]);
    const wg = slice(w, [null, [0, e]]);
    const we = slice(w, [null, [e, 2 * e]]);
    const fromImage = unsqueeze(F.linear(g, wg, null), 1); // [B, 1, 153]
    const fromText = unsqueeze(F.linear(text.clip, we, t.controller.bias), 0); // [1, C, 153]
    const theta = add(fromImage, fromText); // [B, C, 153]
    const n = t.preNorm.forwardRelu(x9);
    const h = t.preConv.forward(n); // [B, 8, D, H, W]
    const logits = F.dynamicHead(h, theta);
    for (const x of [g3, g4, g5, g, w, wg, we, fromImage, fromText, theta, n, h]) x.dispose();
    return logits;
  }

  /** Cube-location logits [N, cubes³] from the bottleneck x5 of N cubes. */
  locate(x5: Tensor): Tensor {
    return this.location.forward(x5);
  }

  private requireText() {
    if (!this.text) throw new TakError('This network was built without the text head (--no-text)');
    return this.text;
  }
}
