import { engine, type BufferRef } from '../gpu/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { fromArray, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { outerRuns, runBinding, type OuterRun } from './chunks.js';
import { requireSubgroups } from './subgroups.js';
import { add, mul } from './elementwise.js';
import { sum } from './reduce.js';
import { defineOp } from './registry.js';
import { concat, pad, slice } from './shape.js';

/**
 * TAK's text-driven dynamic head (method-spec §6): per image b and class k, the controller's 153
 * parameters θ[b, k] define a 3-layer 1×1×1 network 8 → 8 → 8 → 1 applied to the shared features
 * h [B, 8, D, H, W]: z = W3·ReLU(W2·ReLU(W1·h + b1) + b2) + b3 → logits [B, K, D, H, W]. One fused
 * kernel (kernels/dynamic_head.wgsl) never materialises the per-class hidden activations; the
 * backward recomputes them for ∂h (one pass over the classes per voxel) and for ∂θ (a
 * deterministic per-(b, k) reduction over the voxels, split into workgroup partials then summed).
 */

export const HEAD_PARAMS = 153;
const FEATURES = 8;
/** The kernel's workgroup: one subgroup of 8 lanes. */
const LANES = 8;
/** θ padded to 40 vec4 per head, so every lane loads aligned vec4 (kernels/dynamic_head.wgsl). */
const PADDED = 160;
/** MODE 2: voxel groups per lane per workgroup. */
const THETA_G = 32;
const MODE = { forward: 0, gradH: 1, gradTheta: 2 } as const;

interface HeadView {
  batch: number;
  k: number;
  s: number;
  spatial: number[];
  vec: number;
}

function headView(h: Tensor, theta: Tensor): HeadView {
  requireSubgroups('dynamicHead');
  h.live();
  theta.live();
  if (h.dtype !== 'f32' || theta.dtype !== 'f32') throw new TakError(`dynamicHead needs f32 tensors, got h ${h} and θ ${theta}`);
  if (h.ndim < 2 || h.shape[1] !== FEATURES) throw new TakError(`dynamicHead: h must be [B, ${FEATURES}, ...spatial], got ${show([...h.shape])}`);
  const [batch, , ...spatial] = h.shape as [number, number, ...number[]];
  if (theta.ndim !== 3 || theta.shape[0] !== batch || theta.shape[2] !== HEAD_PARAMS) {
    throw new TakError(`dynamicHead: θ must be [${batch}, K, ${HEAD_PARAMS}] for h ${show([...h.shape])}, got ${show([...theta.shape])}`);
  }
  const s = spatial.reduce((p, d) => p * d, 1);
  return { batch, k: theta.shape[1]!, s, spatial, vec: s % 4 === 0 ? 4 : 1 };
}

/** Records one dispatch over the images of `run`; y is bound as given (its own offsets). */
function dispatchHead(mode: number, v: HeadView, run: OuterRun, h: Tensor, padded: Tensor, gz: Tensor | null, y: BufferRef, blocks = 0): void {
  const e = engine();
  const kernel = e.kernel({ file: 'dynamic_head', constants: { MODE: mode, VEC: v.vec, G: THETA_G } });
  const groups = v.s / v.vec;
  const across = mode === MODE.gradTheta ? blocks : Math.ceil(groups / LANES);
  if (run.count > 65535 || v.k > 65535 || across > 65535) {
    throw new TakError(`dynamicHead: ${run.count} images, ${v.k} classes or ${across} voxel blocks exceed 65535 workgroups per dimension`);
  }
  const hRun = runBinding(h, run, FEATURES * v.s);
  e.dispatch(
    kernel,
    { h: hRun, theta: runBinding(padded, run, v.k * PADDED), gz: gz ? runBinding(gz, run, v.k * v.s) : hRun, y },
    { k: v.k, s: v.s, groups, blocks },
    mode === MODE.gradTheta ? [blocks, v.k, run.count] : [across, run.count],
  );
}

function runsOf(v: HeadView): OuterRun[] {
  return outerRuns('dynamicHead', v.batch, [FEATURES * v.s, v.k * PADDED, v.k * v.s]);
}

function forward(h: Tensor, padded: Tensor, v: HeadView): Tensor {
  const out = Tensor.empty([v.batch, v.k, ...v.spatial]);
  for (const run of runsOf(v)) dispatchHead(MODE.forward, v, run, h, padded, null, runBinding(out, run, v.k * v.s));
  return out;
}

function gradH(h: Tensor, padded: Tensor, g: Tensor, v: HeadView): Tensor {
  const out = Tensor.empty(h.shape);
  for (const run of runsOf(v)) dispatchHead(MODE.gradH, v, run, h, padded, g, runBinding(out, run, FEATURES * v.s));
  return out;
}

function gradTheta(h: Tensor, padded: Tensor, g: Tensor, v: HeadView): Tensor {
  const blocks = Math.ceil(v.s / v.vec / (LANES * THETA_G));
  const parts = runsOf(v).map((run) => {
    const partials = Tensor.empty([run.count, v.k, blocks, PADDED]);
    dispatchHead(MODE.gradTheta, v, run, h, padded, g, partials.binding, blocks);
    const reduced = sum(partials, 2);
    const unpadded = slice(reduced, [null, null, [0, HEAD_PARAMS]]);
    partials.dispose();
    reduced.dispose();
    return unpadded;
  });
  if (parts.length === 1) return parts[0]!;
  const out = concat(parts, 0);
  for (const part of parts) part.dispose();
  return out;
}

/** Logits [B, K, ...S] of the dynamic heads θ [B, K, 153] on features h [B, 8, ...S]. */
export const dynamicHead: (h: Tensor, theta: Tensor) => Tensor = defineOp({
  name: 'dynamic_head',
  family: 'dynamic-head',
  forward: (h: Tensor, theta: Tensor) => {
    const v = headView(h, theta);
    const padded = pad(theta, [[0, 0], [0, 0], [0, PADDED - HEAD_PARAMS]]);
    const out = forward(h, padded, v);
    const held = Tensor.view(h, h.shape);
    return {
      out,
      inputs: [h, theta],
      saved: [held, padded],
      // Only the gradients someone needs (each is a full pass over the voxels).
      vjp: (g) => [h.requiresGrad ? gradH(held, padded, g, v) : null, theta.requiresGrad ? gradTheta(held, padded, g, v) : null],
    };
  },
  gradcheck: [
    { label: 'h 2x8x5, K 3 (scalar lanes)', inputs: () => [randn([2, 8, 5], 0, 0.5), headParams(2, 3)], eps: 1e-3 },
    { label: 'h 1x8x2x2x2, K 1 (vec4 lanes)', inputs: () => [randn([1, 8, 2, 2, 2], 0, 0.5), headParams(1, 1)], eps: 1e-3 },
  ],
});

/**
 * Gradient-check parameters: weights N(0, 0.1²) and biases ±0.6, so pre-activations stay well
 * away from ReLU's kink under the finite-difference step (and both ReLU branches occur).
 */
function headParams(batch: number, k: number): Tensor {
  const weights = mul(randn([batch, k, HEAD_PARAMS], 0, 1), fromArray(Float32Array.from({ length: HEAD_PARAMS }, (_, q) => (q < 136 ? 0.1 : 0)), [HEAD_PARAMS]));
  const biases = fromArray(Float32Array.from({ length: batch * k * HEAD_PARAMS }, (_, i) => (i % HEAD_PARAMS < 136 ? 0 : (i * 7) % 3 === 0 ? -0.6 : 0.6)), [batch, k, HEAD_PARAMS]);
  return add(weights, biases);
}
