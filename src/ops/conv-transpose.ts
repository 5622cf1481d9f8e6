import { Tensor } from '../tensor/tensor.js';
import { randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineOp } from './registry.js';
import { sum } from './reduce.js';
import { checkBias, checkRank5, padPairs, type Padding } from './conv.js';
import { Loader, chooseLoader, convGemm, packWeights, scatterUpsample2, triple, weightAndBiasGradient, type Geometry, type Triple } from './conv-kernels.js';

/**
 * convTranspose3d with PyTorch's semantics (torch.nn.functional.conv_transpose3d, groups = 1):
 * x [N, Cin, D, H, W], w [Cin, Cout, kd, kh, kw], bias [Cout]; output size per axis
 * (i − 1)·s − 2p + d·(k − 1) + outputPadding + 1 (padding may be [before, after] pairs, as ONNX).
 *
 * Kernel 2, stride 2, no padding (V-Net's up-convolution) has no overlap: it is one GEMM
 * [Cout·8 × Cin]·[Cin × voxels] whose rows scatter to the interleaved 2× grid. Other geometries use
 * the transposed gather. The VJP is a convolution of dy with the same weights (dx) and the
 * convolution weight gradient with the roles of x and dy exchanged (dw).
 */

export interface ConvTranspose3dOptions {
  stride?: number | Triple;
  padding?: Padding;
  outputPadding?: number | Triple;
  dilation?: number | Triple;
}

/** The convolution whose input gradient this transposed convolution is: dy-space → x-space. */
function geometry(x: Tensor, w: Tensor, options: ConvTranspose3dOptions): { forward: Geometry; adjoint: Geometry } {
  checkRank5(x, 'input', 'convTranspose3d');
  checkRank5(w, 'weight', 'convTranspose3d');
  if (w.shape[0] !== x.shape[1]) {
    throw new TakError(`convTranspose3d: weight ${show([...w.shape])} expects ${w.shape[0]} input channels, input ${show([...x.shape])} has ${x.shape[1]} (groups are not supported)`);
  }
  const stride = triple(options.stride, 1, 'convTranspose3d stride');
  const dilation = triple(options.dilation, 1, 'convTranspose3d dilation');
  const outputPadding = triple(options.outputPadding, 0, 'convTranspose3d outputPadding');
  const [pad, padAfter] = padPairs(options.padding);
  if (stride.some((s) => s < 1) || dilation.some((d) => d < 1)) throw new TakError(`convTranspose3d: stride ${show(stride)} and dilation ${show(dilation)} must be >= 1`);
  if (outputPadding.some((op, a) => op >= Math.max(stride[a]!, dilation[a]!))) {
    throw new TakError(`convTranspose3d: outputPadding ${show(outputPadding)} must be smaller than the stride or the dilation (PyTorch's rule)`);
  }
  const input = x.shape.slice(2) as Triple;
  const kernel = w.shape.slice(2) as Triple;
  const out = input.map((i, a) => (i - 1) * stride[a]! - pad[a]! - padAfter[a]! + dilation[a]! * (kernel[a]! - 1) + outputPadding[a]! + 1) as Triple;
  if (out.some((o) => o < 1)) throw new TakError(`convTranspose3d: output size ${show(out)} of input ${show([...x.shape])} is empty; reduce the padding`);
  const n = x.shape[0]!;
  const [cin, cout] = [w.shape[0]!, w.shape[1]!];
  return {
    forward: { n, cin, input, out, kernel, stride, pad, dilation, transposed: true },
    adjoint: { n, cin: cout, input: out, out: input, kernel, stride, pad, dilation, transposed: false },
  };
}

function transposedForward(x: Tensor, w: Tensor, bias: Tensor | null, g: Geometry): Tensor {
  const scattered = scatterUpsample2(x, w, g, g.input, g.out, bias);
  if (scattered) return scattered;
  const [cin, cout] = [w.shape[0]!, w.shape[1]!];
  return convGemm(x, packWeights(w, cout, cin, g.kernel, Loader.General, true, false), g, { bias });
}

type ConvTranspose3d = (x: Tensor, w: Tensor, bias?: Tensor | null, options?: ConvTranspose3dOptions) => Tensor;

export const convTranspose3d: ConvTranspose3d = defineOp({
  name: 'conv_transpose3d',
  family: 'conv',
  forward: (x: Tensor, w: Tensor, bias: Tensor | null = null, options: ConvTranspose3dOptions = {}) => {
    const { forward, adjoint } = geometry(x, w, options);
    checkBias(bias, w.shape[1]!, 'convTranspose3d');
    const out = transposedForward(x, w, bias, forward);
    return {
      out,
      inputs: bias ? [x, w, bias] : [x, w],
      vjp: (gy, into) => {
        let dx: Tensor | null = null;
        if (x.requiresGrad) {
          // Added into x's gradient so far when backward() offers it (conv3d's epilogue).
          dx = convGemm(gy, packWeights(w, w.shape[0]!, w.shape[1]!, adjoint.kernel, chooseLoader(adjoint), false, false), adjoint, { into: into?.[0] });
        }
        // dW into w's gradient so far (kernels/conv3d_unpack.wgsl ACCUMULATE_W) when backward() offers it.
        const dw = w.requiresGrad ? weightAndBiasGradient(x, gy, adjoint, false, { dw: into?.[1] }).dw : null;
        return [dx, dw, bias?.requiresGrad ? sum(gy, [0, 2, 3, 4]) : null];
      },
    };
  },
  gradcheck: [
    {
      label: '2x2x2 stride 2 (GEMM + scatter)',
      inputs: () => [randn([2, 3, 2, 2, 4], 0, 1, { seed: 620 }), randn([3, 2, 2, 2, 2], 0, 0.5, { seed: 621 }), randn([2], 0, 1, { seed: 622 })],
      fn: (x, w, b) => convTranspose3d(x, w, b, { stride: 2 }),
    },
    {
      // A 2³ input (the bottleneck of a 32³ cube): the scatter path needs W % 4 == 0, so this takes the general one.
      label: '2x2x2 stride 2 on a 2³ input',
      inputs: () => [randn([2, 3, 2, 2, 2], 0, 1, { seed: 625 }), randn([3, 2, 2, 2, 2], 0, 0.5, { seed: 626 }), randn([2], 0, 1, { seed: 627 })],
      fn: (x, w, b) => convTranspose3d(x, w, b, { stride: 2 }),
    },
    {
      label: 'kernel 3, stride 2, pad 1, outputPadding 1, dilation [1,2,1]',
      inputs: () => [randn([1, 2, 2, 3, 2], 0, 1, { seed: 623 }), randn([2, 3, 3, 2, 3], 0, 0.5, { seed: 624 })],
      fn: (x, w) => convTranspose3d(x, w, null, { stride: 2, padding: [1, 0, 1], outputPadding: 1, dilation: [1, 2, 1] }),
    },
  ],
});
