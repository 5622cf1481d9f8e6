import { Tensor } from '../tensor/tensor.js';
import { fromArray, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { gt, mul } from './elementwise.js';
import { defineOp } from './registry.js';
import { sum } from './reduce.js';
import {
  Loader, chooseLoader, convGemm, convOutSize, packWeights, scatterUpsample2, triple, weightAndBiasGradient, weightGradient, type Geometry, type Triple,
} from './conv-kernels.js';

/**
 * conv3d with PyTorch's NCDHW semantics (torch.nn.functional.conv3d, groups = 1): x [N, Cin, D, H, W],
 * w [Cout, Cin, kd, kh, kw], bias [Cout]. Output size per axis ⌊(i + 2p − d(k−1) − 1)/s⌋ + 1.
 * Padding may also be given per axis as [before, after] (ONNX-style asymmetric pads).
 *
 * VJP (PyTorch's convolution_backward):
 *   dx: stride 1 → a convolution of dy with the flipped, channel-swapped kernel and padding
 *       d(k−1) − p; 2×2×2 stride 2 → a GEMM scattered to the 2× grid (no overlap); otherwise the
 *       transposed-convolution gather.
 *   dw: split-K partial sums of dy·x̃ over voxel runs, reduced in a fixed order (deterministic).
 *   db: Σ dy over (N, D, H, W).
 */

export type Padding = number | Triple | readonly (readonly [number, number])[];

export interface Conv3dOptions {
  stride?: number | Triple;
  padding?: Padding;
  dilation?: number | Triple;
  /** Fused epilogue: relu(conv(x) + bias). */
  relu?: boolean;
}

/** Leading and trailing padding per axis. */
export function padPairs(padding: Padding | undefined): [Triple, Triple] {
  if (Array.isArray(padding) && padding.length === 3 && padding.every((p) => Array.isArray(p))) {
    const pairs = padding as unknown as readonly (readonly [number, number])[];
    const before = triple(pairs.map((p) => p[0]), 0, 'padding');
    const after = triple(pairs.map((p) => p[1]), 0, 'padding');
    return [before, after];
  }
  const p = triple(padding as number | Triple | undefined, 0, 'padding');
  return [p, p];
}

export function checkRank5(t: Tensor, what: string, op: string): void {
  t.live();
  if (t.ndim !== 5 || t.dtype !== 'f32') {
    throw new TakError(`${op}: ${what} must be an f32 tensor of rank 5, got ${t.dtype}${show([...t.shape])}`);
  }
}

export function checkBias(bias: Tensor | null | undefined, channels: number, op: string): void {
  if (!bias) return;
  bias.live();
  if (bias.ndim !== 1 || bias.shape[0] !== channels || bias.dtype !== 'f32') {
    throw new TakError(`${op}: bias must be an f32 tensor of shape [${channels}], got ${bias.dtype}${show([...bias.shape])}`);
  }
}

/** Geometry of conv3d(x, w) (validated). */
function convGeometry(x: Tensor, w: Tensor, options: Conv3dOptions): { g: Geometry; padAfter: Triple } {
  checkRank5(x, 'input', 'conv3d');
  checkRank5(w, 'weight', 'conv3d');
  if (w.shape[1] !== x.shape[1]) {
    throw new TakError(`conv3d: weight ${show([...w.shape])} expects ${w.shape[1]} input channels, input ${show([...x.shape])} has ${x.shape[1]} (groups are not supported)`);
  }
  const stride = triple(options.stride, 1, 'conv3d stride');
  const dilation = triple(options.dilation, 1, 'conv3d dilation');
  const [pad, padAfter] = padPairs(options.padding);
  if (stride.some((s) => s < 1) || dilation.some((d) => d < 1)) throw new TakError(`conv3d: stride ${show(stride)} and dilation ${show(dilation)} must be >= 1`);
  const input = x.shape.slice(2) as Triple;
  const kernel = w.shape.slice(2) as Triple;
  const out = input.map((i, a) => convOutSize(i, kernel[a]!, stride[a]!, pad[a]!, padAfter[a]!, dilation[a]!)) as Triple;
  if (out.some((o) => o < 1)) {
    throw new TakError(`conv3d: input ${show([...x.shape])} is smaller than the dilated kernel ${show(kernel)} after padding ${show(pad)}/${show(padAfter)}`);
  }
  return { g: { n: x.shape[0]!, cin: x.shape[1]!, input, out, kernel, stride, pad, dilation, transposed: false }, padAfter };
}

/**
 * dx of conv3d: see the file comment for the three forms. With `into` (the gradient so far) the
 * result is added to it where the form allows and `into` comes back; otherwise a new tensor.
 */
function inputGradient(gy: Tensor, w: Tensor, g: Geometry, padAfter: Triple, into: Tensor | null = null): Tensor {
  const [cout, cin] = [w.shape[0]!, w.shape[1]!];
  const reach = g.kernel.map((k, a) => g.dilation[a]! * (k - 1));
  const stride1 = g.stride.every((s) => s === 1) && g.pad.every((p, a) => p <= reach[a]!) && padAfter.every((p, a) => p <= reach[a]!);
  if (stride1) {
    const back: Geometry = {
      n: g.n, cin: cout, input: g.out, out: g.input, kernel: g.kernel, stride: [1, 1, 1],
      pad: g.pad.map((p, a) => reach[a]! - p) as Triple, dilation: g.dilation, transposed: false,
    };
    return convGemm(gy, packWeights(w, cin, cout, g.kernel, chooseLoader(back), true, true), back, { into });
  }
  const scattered = scatterUpsample2(gy, w, g, g.out, g.input, null, into);
  if (scattered) return scattered;
  const back: Geometry = { ...g, cin: cout, input: g.out, out: g.input, transposed: true };
  return convGemm(gy, packWeights(w, cin, cout, g.kernel, Loader.General, true, false), back, { into });
}

/**
 * torch.nn.grad.conv3d_input: the gradient of conv3d with respect to an input of `inputShape`, given
 * the weights and the output gradient (no autograd; what conv3d's VJP runs).
 */
export function conv3dInput(inputShape: readonly number[], w: Tensor, gy: Tensor, options: Conv3dOptions = {}): Tensor {
  const probe = { shape: inputShape, ndim: inputShape.length, dtype: 'f32', live: () => probe } as unknown as Tensor;
  const { g, padAfter } = convGeometry(probe, w, options);
  checkOutputGradient(gy, g, w.shape[0]!);
  return inputGradient(gy, w, g, padAfter);
}

/** torch.nn.grad.conv3d_weight: the gradient of conv3d with respect to weights of `weightShape`. */
export function conv3dWeight(x: Tensor, weightShape: readonly number[], gy: Tensor, options: Conv3dOptions = {}): Tensor {
  const probe = { shape: weightShape, ndim: weightShape.length, dtype: 'f32', live: () => probe } as unknown as Tensor;
  const { g } = convGeometry(x, probe, options);
  checkOutputGradient(gy, g, weightShape[0]!);
  return weightGradient(gy, x, g);
}

function checkOutputGradient(gy: Tensor, g: Geometry, channels: number): void {
  const expected = [g.n, channels, ...g.out];
  gy.live();
  if (gy.ndim !== 5 || gy.shape.some((d, i) => d !== expected[i])) {
    throw new TakError(`conv3d gradient: the output gradient has shape ${show([...gy.shape])}, the convolution's output is ${show(expected)}`);
  }
}

type Conv3d = (x: Tensor, w: Tensor, bias?: Tensor | null, options?: Conv3dOptions) => Tensor;

export const conv3d: Conv3d = defineOp({
  name: 'conv3d',
  family: 'conv',
  forward: (x: Tensor, w: Tensor, bias: Tensor | null = null, options: Conv3dOptions = {}) => {
    const { g, padAfter } = convGeometry(x, w, options);
    checkBias(bias, w.shape[0]!, 'conv3d');
    const packed = packWeights(w, w.shape[0]!, g.cin, g.kernel, chooseLoader(g), false, false);
    const out = convGemm(x, packed, g, { bias, relu: options.relu ?? false });
    const saved = options.relu ? [Tensor.view(out, out.shape)] : [];
    return {
      out,
      inputs: bias ? [x, w, bias] : [x, w],
      saved,
      vjp: (gy, into) => {
        const gz = options.relu ? mul(gy, gt(saved[0]!, 0)) : gy;
        // Only what flows somewhere: the first layer's input needs no gradient, frozen weights none.
        // The bias gradient (Σ gz over samples and voxels) comes out of the weight gradient's pass.
        const withBias = Boolean(bias?.requiresGrad);
        const { dw, db } = w.requiresGrad ? weightAndBiasGradient(gz, x, g, withBias, { dw: into?.[1], db: into?.[2] }) : { dw: null, db: null };
        return [
          x.requiresGrad ? inputGradient(gz, w, g, padAfter, into?.[0]) : null,
          dw,
          withBias ? (db ?? sum(gz, [0, 2, 3, 4])) : null,
        ];
      },
    };
  },
  gradcheck: [
    {
      label: '3x3x3 pad 1, W % 4 == 0 (row loader)',
      inputs: () => [randn([1, 2, 3, 4, 8], 0, 1, { seed: 600 }), randn([3, 2, 3, 3, 3], 0, 0.3, { seed: 601 }), randn([3], 0, 1, { seed: 602 })],
      fn: (x, w, b) => conv3d(x, w, b, { padding: 1 }),
    },
    {
      label: '2x2x2 stride 2 (pair loader, scattered dx)',
      inputs: () => [randn([2, 2, 2, 4, 8], 0, 1, { seed: 603 }), randn([3, 2, 2, 2, 2], 0, 0.5, { seed: 604 })],
      fn: (x, w) => conv3d(x, w, null, { stride: 2 }),
    },
    {
      label: 'odd geometry: stride [1,2,1], pads, dilation 2',
      inputs: () => [randn([2, 2, 3, 5, 5], 0, 1, { seed: 605 }), randn([3, 2, 2, 3, 2], 0, 0.5, { seed: 606 }), randn([3], 0, 0.5, { seed: 607 })],
      fn: (x, w, b) => conv3d(x, w, b, { stride: [1, 2, 1], padding: [[1, 0], [1, 1], [0, 2]], dilation: [1, 1, 2] }),
    },
    {
      // Biases of ±3 with small weights keep every output at least ~2 away from ReLU's kink, so
      // central differences are exact on both sides of the mask.
      label: 'fused bias + ReLU (channels active and cut off)',
      inputs: () => [randn([1, 2, 3, 4, 8], 0, 1, { seed: 608 }), randn([3, 2, 3, 3, 3], 0, 0.05, { seed: 609 }), fromArray([3, -3, 3])],
      fn: (x, w, b) => conv3d(x, w, b, { padding: 1, relu: true }),
      wrt: [0, 1],
    },
  ],
});
