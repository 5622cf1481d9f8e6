import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor } from '../tensor/tensor.js';
import { arange, rand, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { outerRuns, runBinding } from './chunks.js';
import { cast, eq } from './elementwise.js';
import { defineOp } from './registry.js';
import { reshape } from './shape.js';

/**
 * Softmax, log-softmax and the voxel entropy over the channel axis of NCDHW data, each one kernel
 * (kernels/softmax.wgsl): lanes over voxels, a loop over channels. Argmax over channels is the
 * reduction `argmax(x, 1)` (first maximum, like torch.argmax).
 */

const WG = 64;
/** Channels a kernel keeps in registers (kernels/softmax.wgsl MAXC); more are re-read per pass. */
const MAX_CACHED = 32;
const OP = { softmax: 0, logSoftmax: 1, entropyOfLogits: 2, entropyOfProbs: 3, softmaxVjp: 4, logSoftmaxVjp: 5, entropyOfLogitsVjp: 6, entropyOfProbsVjp: 7 } as const;
const PER_VOXEL_OUT: ReadonlySet<number> = new Set([OP.entropyOfLogits, OP.entropyOfProbs]);
const PER_VOXEL_B: ReadonlySet<number> = new Set([OP.entropyOfLogitsVjp, OP.entropyOfProbsVjp]);

export interface ChannelView {
  outer: number;
  c: number;
  inner: number;
  axis: number;
}

/** x as [outer, C, inner] around `axis`. */
export function channelView(x: Tensor, axis: number, op: string): ChannelView {
  x.live();
  if (x.dtype !== 'f32') throw new TakError(`${op} needs an f32 tensor, got ${x.dtype}${show([...x.shape])}`);
  const ax = axis < 0 ? axis + x.ndim : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= x.ndim) throw new TakError(`${op}: axis ${axis} is out of range for shape ${show([...x.shape])}`);
  const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  return { outer, c: x.shape[ax]!, inner, axis: ax };
}

function runChannelKernel(op: number, a: Tensor, b: Tensor | null, v: ChannelView): Tensor {
  const perVoxelOut = PER_VOXEL_OUT.has(op);
  const outShape = perVoxelOut ? a.shape.filter((_, i) => i !== v.axis) : [...a.shape];
  const out = Tensor.empty(outShape, 'f32');
  if (out.size === 0 || a.size === 0) return out;
  const vec = v.inner % 4 === 0 ? 4 : 1;
  const e = engine();
  const kernel = e.kernel({ file: 'softmax', constants: { OP: op, C: v.c, CACHED: v.c <= MAX_CACHED, VEC: vec, WG } });
  const full = v.c * v.inner;
  const bPer = PER_VOXEL_B.has(op) ? v.inner : full;
  const outPer = perVoxelOut ? v.inner : full;
  for (const run of outerRuns(`channel op ${op}`, v.outer, [full, bPer, outPer])) {
    const work = (run.count * v.inner) / vec;
    e.dispatch(
      kernel,
      { a: runBinding(a, run, full), b: runBinding(b ?? a, run, b ? bPer : full), y: runBinding(out, run, outPer) },
      { inner: v.inner, work },
      grid(Math.ceil(work / WG)),
    );
  }
  return out;
}

/** Softmax over `axis` (default 1, the channel axis of NCDHW), numerically stable. */
export const softmax: (x: Tensor, axis?: number) => Tensor = defineOp({
  name: 'softmax',
  family: 'softmax',
  forward: (x: Tensor, axis = 1) => {
    const v = channelView(x, axis, 'softmax');
    const out = runChannelKernel(OP.softmax, x, null, v);
    const saved = Tensor.view(out, out.shape);
    return { out, inputs: [x], saved: [saved], vjp: (g) => [runChannelKernel(OP.softmaxVjp, saved, g, v)] };
  },
  gradcheck: [
    { label: '2x3x5 axis 1 (scalar lanes)', inputs: () => [randn([2, 3, 5], 0, 2)] },
    { label: '1x4x2x2x2 axis 1 (vec4 lanes)', inputs: () => [randn([1, 4, 2, 2, 2], 0, 2)] },
    { label: '3x4 axis -1', inputs: () => [randn([3, 4], 0, 2)], fn: (x) => softmax(x, -1) },
  ],
});

/** log(softmax(x)) over `axis`, computed as x − max − log Σ exp(x − max). */
export const logSoftmax: (x: Tensor, axis?: number) => Tensor = defineOp({
  name: 'log_softmax',
  family: 'softmax',
  forward: (x: Tensor, axis = 1) => {
    const v = channelView(x, axis, 'logSoftmax');
    const out = runChannelKernel(OP.logSoftmax, x, null, v);
    const saved = Tensor.view(out, out.shape);
    return { out, inputs: [x], saved: [saved], vjp: (g) => [runChannelKernel(OP.logSoftmaxVjp, saved, g, v)] };
  },
  gradcheck: [
    { label: '2x3x5 axis 1', inputs: () => [randn([2, 3, 5], 0, 2)] },
    { label: '1x4x8 axis 1 (vec4 lanes)', inputs: () => [randn([1, 4, 8], 0, 2)] },
  ],
});

/**
 * Voxel entropy H = −Σ_c p_c·log(p_c + 1e-6) (natural log; method-spec §4, the teacher's
 * pseudo-label filter) over `axis`, with p = softmax(x) for `input: 'logits'` or p = x for
 * 'probs'. The output drops the channel axis: [B, C, D, H, W] → [B, D, H, W], like the labels.
 */
export const voxelEntropy: (x: Tensor, input?: 'logits' | 'probs', axis?: number) => Tensor = defineOp({
  name: 'voxel_entropy',
  family: 'softmax',
  forward: (x: Tensor, input: 'logits' | 'probs' = 'logits', axis = 1) => {
    if (input !== 'logits' && input !== 'probs') throw new TakError(`voxelEntropy: input must be 'logits' or 'probs', got ${show(input)}`);
    const v = channelView(x, axis, 'voxelEntropy');
    const fromLogits = input === 'logits';
    const held = Tensor.view(x, x.shape); // read by the VJP even if the caller disposes x
    return {
      out: runChannelKernel(fromLogits ? OP.entropyOfLogits : OP.entropyOfProbs, x, null, v),
      inputs: [x],
      saved: [held],
      vjp: (g) => [runChannelKernel(fromLogits ? OP.entropyOfLogitsVjp : OP.entropyOfProbsVjp, held, g, v)],
    };
  },
  gradcheck: [
    { label: 'logits 2x3x5', inputs: () => [randn([2, 3, 5], 0, 1.5)] },
    { label: 'logits 1x5x4 (vec4 lanes)', inputs: () => [randn([1, 5, 4], 0, 1.5)] },
    { label: 'probs 2x3x5', inputs: () => [rand([2, 3, 5], 0.05, 1)], fn: (x) => voxelEntropy(x, 'probs'), eps: 1e-3 },
  ],
});

/**
 * One-hot encoding of integer labels [B, ...] into f32 [B, C, ...]. Labels outside [0, C) (the
 * ignore label −1) encode as all zeros, as upstream's `_one_hot_encoder` does. No gradient.
 */
export function oneHot(labels: Tensor, classes: number): Tensor {
  labels.live();
  if (labels.dtype !== 'i32') throw new TakError(`oneHot needs i32 labels, got ${labels.dtype}${show([...labels.shape])}; cast with cast(x, 'i32')`);
  if (labels.ndim < 1) throw new TakError(`oneHot needs labels with a batch axis, got shape ${show([...labels.shape])}`);
  if (!Number.isInteger(classes) || classes < 1) throw new TakError(`oneHot: classes must be a positive integer, got ${classes}`);
  const [batch, ...rest] = labels.shape;
  const spatial = rest.reduce((p, d) => p * d, 1);
  const asFloat = cast(labels, 'f32');
  const column = reshape(asFloat, [batch!, 1, spatial]);
  const ids = arange(0, classes, 1, 'f32');
  const row = reshape(ids, [1, classes, 1]);
  const hot = eq(column, row);
  const out = reshape(hot, [batch!, classes, ...rest]);
  for (const t of [asFloat, column, ids, row, hot]) t.dispose();
  return out;
}
