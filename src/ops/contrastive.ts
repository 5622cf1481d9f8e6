import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor, scope } from '../tensor/tensor.js';
import { arange, fromArray, full, randn } from '../tensor/create.js';
import type { Rng } from '../util/random.js';
import { TakError, show } from '../util/errors.js';
import { div, maximum, mul, sqrt, square } from './elementwise.js';
import { indexSelect } from './gather.js';
import { crossEntropy } from './losses.js';
import { matmul, matmulTransposed } from './matmul.js';
import { sum } from './reduce.js';
import { defineComposite, defineOp } from './registry.js';
import { requireSubgroups } from './subgroups.js';
import { concat, pad, reshape, slice, transpose } from './shape.js';

/**
 * The cross-modal contrastive loss of TAK (method-spec §7, upstream loss_amos.py
 * `ContrastiveLoss`): per-class anchor sampling from feature maps, and the supervised-contrastive
 * (SupCon) loss over the sampled anchors plus the text rows, computed by kernels/supcon.wgsl
 * without forming the M×M similarity matrix. Also the plain single-positive InfoNCE.
 */

const WG = 64;

// ---------------------------------------------------------------------------------------------
// Gathering chosen voxels' feature vectors (kernels/voxel_gather.wgsl).

/**
 * Rows [M, C] of features [B, C, ...S] at voxels `voxels[m] = b·S + s` (host indices, all
 * distinct). Differentiable w.r.t. the features; the VJP is a gather through the inverse map.
 */
export const gatherVoxels: (features: Tensor, voxels: Int32Array) => Tensor = defineOp({
  name: 'gather_voxels',
  family: 'contrastive',
  forward: (features: Tensor, voxels: Int32Array) => {
    features.live();
    if (features.dtype !== 'f32' || features.ndim < 2) throw new TakError(`gatherVoxels needs f32 features [B, C, ...], got ${features}`);
    const [batch, c] = features.shape as [number, number];
    const s = features.size / (batch * c);
    const owner = new Int32Array(batch * s).fill(-1);
    voxels.forEach((v, m) => {
      if (!Number.isInteger(v) || v < 0 || v >= owner.length) throw new TakError(`gatherVoxels: voxel ${v} (entry ${m}) is outside [0, ${owner.length})`);
      if (owner[v] !== -1) throw new TakError(`gatherVoxels: voxel ${v} is chosen twice (entries ${owner[v]} and ${m}); choose each voxel once`);
      owner[v] = m;
    });
    const out = Tensor.empty([voxels.length, c]);
    if (voxels.length === 0) return { out };
    const e = engine();
    const index = fromArray(voxels);
    const work = voxels.length * c;
    e.dispatch(e.kernel({ file: 'voxel_gather', constants: { MODE: 0, WG } }), { x: features.binding, index: index.binding, y: out.binding }, { m: voxels.length, c, s, work }, grid(Math.ceil(work / WG)));
    index.dispose();
    return {
      out,
      inputs: [features],
      vjp: (g) => {
        const gx = Tensor.empty(features.shape);
        const owners = fromArray(owner);
        const vec = s % 4 === 0 ? 4 : 1;
        const n = features.size / vec;
        e.dispatch(e.kernel({ file: 'voxel_gather', constants: { MODE: 1, VEC: vec, WG } }), { x: g.binding, index: owners.binding, y: gx.binding }, { m: voxels.length, c, s, work: n }, grid(Math.ceil(n / WG)));
        return [gx];
      },
    };
  },
  gradcheck: [
    {
      label: '2x3x2x3 features, 5 voxels',
      inputs: () => [randn([2, 3, 2, 3], 0, 1)],
      fn: (x) => gatherVoxels(x, new Int32Array([7, 0, 5, 11, 6])),
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Per-class anchor sampling (upstream `sample_anchor`).

export interface AnchorSample {
  /** [M, C] feature vectors of the sampled voxels (differentiable w.r.t. the features). */
  features: Tensor;
  /** [M] class of each anchor. */
  labels: Int32Array;
}

export interface SampleOptions {
  /** Label excluded from sampling (upstream ignore_index −1: high-entropy pseudo-labels). */
  ignore?: number;
}

/**
 * Labels at the features' resolution: upstream `F.interpolate(mode='nearest')` picks source index
 * ⌊i·in/out⌋, which for an integer ratio f is i·f — a strided slice.
 */
function labelsAtResolution(labels: Tensor, spatial: readonly number[], batch: number): Tensor {
  const own = labels.shape.length === spatial.length + 2 ? labels.shape.slice(2) : labels.shape.slice(1);
  if (labels.shape[0] !== batch || own.length !== spatial.length) {
    throw new TakError(`sampleAnchors: labels ${show([...labels.shape])} do not match features with batch ${batch} and spatial ${show([...spatial])}`);
  }
  const steps = own.map((d, i) => d / spatial[i]!);
  if (steps.some((f) => !Number.isInteger(f) || f < 1)) {
    throw new TakError(`sampleAnchors: label size ${show([...own])} is not an integer multiple of the feature size ${show([...spatial])}`);
  }
  const flat = reshape(labels, [batch, ...own]);
  if (steps.every((f) => f === 1)) return flat;
  const out = slice(flat, [null, ...own.map((d, i): [number, number, number] => [0, d, steps[i]!])]);
  flat.dispose();
  return out;
}

/**
 * Per image and per class present in `labels` (background included, `ignore` excluded, classes in
 * ascending order): every voxel of the class when it has at most `perClass`, else `perClass`
 * chosen uniformly without replacement by `rng` (seeded: deterministic). Labels are read back at
 * the features' resolution (24³/12³/6³ in TAK: small) and chosen on the CPU; the features are
 * gathered on the GPU. Anchors come out image by image, class by class, voxels in index order.
 */
export async function sampleAnchors(features: Tensor, labels: Tensor, perClass: number, rng: Rng, options: SampleOptions = {}): Promise<AnchorSample> {
  features.live();
  if (features.ndim < 3) throw new TakError(`sampleAnchors needs features [B, C, ...spatial], got ${show([...features.shape])}`);
  if (labels.dtype !== 'i32') throw new TakError(`sampleAnchors needs i32 labels, got ${labels.dtype}${show([...labels.shape])}`);
  if (!Number.isInteger(perClass) || perClass < 1) throw new TakError(`sampleAnchors: perClass must be a positive integer, got ${perClass}`);
  const ignore = options.ignore ?? -1;
  const [batch, , ...spatial] = features.shape as [number, number, ...number[]];
  const s = spatial.reduce((p, d) => p * d, 1);
  const small = labelsAtResolution(labels, spatial, batch);
  const values = (await small.toArray()) as Int32Array;
  small.dispose();
  const voxels: number[] = [];
  const classes: number[] = [];
  for (let b = 0; b < batch; b++) {
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < s; i++) {
      const y = values[b * s + i]!;
      if (y === ignore) continue;
      let list = byClass.get(y);
      if (!list) byClass.set(y, (list = []));
      list.push(b * s + i);
    }
    for (const y of [...byClass.keys()].sort((p, q) => p - q)) {
      const chosen = choose(byClass.get(y)!, perClass, rng);
      voxels.push(...chosen);
      for (let k = 0; k < chosen.length; k++) classes.push(y);
    }
  }
  return { features: gatherVoxels(features, Int32Array.from(voxels)), labels: Int32Array.from(classes) };
}

/** All of `list` when it has at most n entries, else n of them uniformly without replacement (sorted). */
function choose(list: number[], n: number, rng: Rng): number[] {
  if (list.length <= n) return list;
  const pool = [...list];
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n).sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// L2 normalisation and the SupCon loss.

/** x / max(‖x‖₂, eps) along `axis` (torch F.normalize). */
export const l2Normalize: (x: Tensor, axis?: number, eps?: number) => Tensor = defineComposite(
  'l2_normalize',
  'contrastive',
  // Intermediates stay alive for the VJPs (an enclosing scope disposes them), as in every composite.
  (x: Tensor, axis = 1, eps = 1e-12): Tensor => div(x, maximum(sqrt(sum(square(x), axis, true)), full([], eps))),
  [{ label: '4x5 rows', inputs: () => [randn([4, 5], 0, 1)] }],
);

export interface SupConOptions {
  /** τ (upstream hard-codes 0.07). */
  temperature?: number;
}

/** Gram rows per block: ~32 MB of similarities at a time (a binding must stay under 128 MiB). */
function blockRows(mp: number): number {
  return Math.max(8, Math.min(mp, Math.floor((8 << 20) / mp / 8) * 8));
}

/** Label-sorted order, its inverse, and per sorted row the range [start, end) of its label. */
function sortedRanges(labels: Int32Array, mp: number): { perm: Int32Array; inverse: Int32Array; ranges: Uint32Array } {
  const m = labels.length;
  const perm = Int32Array.from({ length: m }, (_, i) => i).sort((a, b) => labels[a]! - labels[b]! || a - b);
  const inverse = new Int32Array(m);
  perm.forEach((original, sorted) => (inverse[original] = sorted));
  const ranges = new Uint32Array(2 * mp).fill(m); // padding rows: empty range [m, m)
  for (let r = 0; r < m; ) {
    let end = r;
    while (end < m && labels[perm[end]!] === labels[perm[r]!]) end++;
    ranges.fill(r, r, end);
    ranges.fill(end, mp + r, mp + end);
    r = end;
  }
  return { perm, inverse, ranges };
}

/**
 * SupCon over anchors that are already unit (or zero) rows [M, D] with host labels [M]: the mean
 * over all M anchors of ℓ_i (method-spec §7; anchors without positives count 0). Public code
 * calls supConLoss, which normalises first. The Gram matrix is formed block by block with matmul
 * and reduced by the row epilogues of kernels/supcon.wgsl.
 */
export const supConUnitRows: (anchors: Tensor, labels: Int32Array, options?: SupConOptions) => Tensor = defineOp({
  name: 'supcon_unit_rows',
  family: 'contrastive',
  forward: (anchors: Tensor, labels: Int32Array, options: SupConOptions = {}) => {
    requireSubgroups('supConLoss');
    anchors.live();
    if (anchors.dtype !== 'f32' || anchors.ndim !== 2) throw new TakError(`supConLoss needs f32 anchors [M, D], got ${anchors}`);
    const [m, d] = anchors.shape as [number, number];
    if (labels.length !== m) throw new TakError(`supConLoss: ${labels.length} labels for ${m} anchors`);
    if (m === 0) throw new TakError('supConLoss needs at least one anchor');
    const tau = options.temperature ?? 0.07;
    if (!(tau >= 1 / 60)) throw new TakError(`supConLoss: temperature ${tau} is below 1/60, where exp(1/τ) overflows float32`);
    const invTau = 1 / tau;
    const mp = Math.ceil(m / 8) * 8;
    const dp = Math.ceil(d / 4) * 4;
    const { perm, inverse, ranges } = sortedRanges(labels, mp);
    const e = engine();
    const kernel = (mode: number) => e.kernel({ file: 'supcon', constants: { MODE: mode } });
    const prepared = scope(() => {
      const rows = pad(indexSelect(anchors, 0, fromArray(perm)), [[0, mp - m], [0, dp - d]]);
      return {
        rows,
        cols: transpose(rows),
        shift: mul(sum(square(rows), 1), invTau),
        ranges: fromArray(ranges, [2 * mp], 'u32'),
        inverse: fromArray(inverse),
        stats: Tensor.empty([6, mp]),
        // The forward's placeholders for the VJP's upstream gradient and coefficients.
        noUpstream: Tensor.empty([4]),
        noCoef: Tensor.empty([4]),
      };
    });
    const step = blockRows(mp);
    const dispatch = (mode: number, sim: Tensor, r0: number, upstream: Tensor, coef: Tensor) =>
      e.dispatch(
        kernel(mode),
        { sim: sim.binding, shift: prepared.shift.binding, ranges: prepared.ranges.binding, upstream: upstream.binding, stats: prepared.stats.binding, coef: coef.binding },
        { m, mp, r0, inv_tau: invTau },
        [sim.shape[0]!],
      );
    // The Gram blocks are kept for the backward: recomputing them costs one of the three
    // Gram-sized GEMMs (~1/3 of the time); keeping them holds mp² floats (238 MB at M = 7712).
    const sims: { sim: Tensor; r0: number }[] = [];
    for (let r0 = 0; r0 < mp; r0 += step) {
      const rowsOfBlock = slice(prepared.rows, [[r0, Math.min(mp, r0 + step)]]);
      // Against the explicit transpose: matmul's plain B measured 3x faster than its B_T read here.
      const sim = matmul(rowsOfBlock, prepared.cols);
      rowsOfBlock.dispose();
      dispatch(0, sim, r0, prepared.noUpstream, prepared.noCoef);
      sims.push({ sim, r0 });
    }
    const out = scope(() => mul(sum(slice(prepared.stats, [[3, 4], [0, m]])), 1 / m));
    return {
      out,
      inputs: [anchors],
      saved: [...Object.values(prepared), ...sims.map((b) => b.sim)],
      vjp: (g) => {
        const parts = sims.map(({ sim, r0 }) => {
          const coef = Tensor.empty(sim.shape);
          dispatch(1, sim, r0, g, coef);
          const part = matmul(coef, prepared.rows);
          coef.dispose();
          return part;
        });
        const sorted = parts.length === 1 ? parts[0]! : concat(parts, 0);
        const grad = indexSelect(sorted, 0, prepared.inverse);
        return [dp === d ? grad : slice(grad, [null, [0, d]])];
      },
    };
  },
  gradcheck: [
    {
      label: '9 unit rows of 5, 3 classes, a single-anchor class',
      inputs: () => [l2Normalize(randn([9, 5], 0, 1))],
      fn: (a) => supConUnitRows(a, new Int32Array([2, 0, 1, 0, 2, 0, 2, 1, 3]), { temperature: 0.5 }),
    },
    {
      label: '13 unit rows of 8, τ 0.07',
      inputs: () => [l2Normalize(randn([13, 8], 0, 1))],
      fn: (a) => supConUnitRows(a, new Int32Array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0])),
      eps: 1e-3,
      atol: 5e-3,
    },
  ],
});

/**
 * Supervised-contrastive loss exactly as method-spec §7: rows L2-normalised, s = AAᵀ/τ minus the
 * detached row max, positives = same label except self, ℓ_i = −(1/(|P(i)| + 1e-5))·Σ_{j∈P(i)}
 * [s_ij − log(e^{s_ij} + Σ_{k∈N(i)} e^{s_ik})], mean over all anchors.
 */
export type SupConLossFn = (anchors: Tensor, labels: Int32Array, options?: SupConOptions) => Tensor;

export const supConLoss: SupConLossFn = defineComposite(
  'supcon_loss',
  'contrastive',
  (anchors: Tensor, labels: Int32Array, options: SupConOptions = {}): Tensor => {
    return supConUnitRows(l2Normalize(anchors), labels, options);
  },
  [
    {
      label: '10 raw rows of 6, 4 classes',
      inputs: () => [randn([10, 6], 0, 1)],
      fn: (a) => supConLoss(a, new Int32Array([0, 1, 2, 3, 3, 2, 1, 0, 0, 1]), { temperature: 0.3 }),
    },
  ],
);

/**
 * One stage of TAK's cross-modal contrastive loss (method-spec §7): anchors sampled per class
 * from `features` [B, C, d, h, w] with `labels` [B, D, H, W] (−1 ignored; nearest-downsampled),
 * then the text rows [T, C] appended with `textLabels`, then SupCon. Upstream sums the 3 stages.
 */
export async function contrastiveStageLoss(
  features: Tensor, labels: Tensor, text: Tensor, textLabels: Int32Array, perClass: number, rng: Rng, options: SupConOptions = {},
): Promise<Tensor> {
  const sample = await sampleAnchors(features, labels, perClass, rng);
  const anchors = sample.labels.length ? concat([sample.features, text], 0) : Tensor.view(text, text.shape);
  sample.features.dispose();
  const all = new Int32Array(sample.labels.length + textLabels.length);
  all.set(sample.labels);
  all.set(textLabels, sample.labels.length);
  const out = supConLoss(anchors, all, options);
  anchors.dispose();
  return out;
}

// ---------------------------------------------------------------------------------------------
// InfoNCE.

/**
 * Single-positive InfoNCE: rows of `query` and `keys` [N, D] are L2-normalised, logits = q·kᵀ/τ,
 * and query i's positive is key i (cross-entropy against the diagonal, mean over queries).
 */
export const infoNce: (query: Tensor, keys: Tensor, options?: SupConOptions) => Tensor = defineComposite(
  'info_nce',
  'contrastive',
  (query: Tensor, keys: Tensor, options: SupConOptions = {}): Tensor => {
    const n = query.shape[0]!;
    if (keys.shape[0] !== n) throw new TakError(`infoNce: ${n} queries but ${keys.shape[0]} keys`);
    const logits = mul(matmulTransposed(l2Normalize(query), l2Normalize(keys)), 1 / (options.temperature ?? 0.07));
    return crossEntropy(logits, arange(0, n));
  },
  [{ label: '5 pairs of 4', inputs: () => [randn([5, 4], 0, 1), randn([5, 4], 0, 1)], fn: (q, k) => infoNce(q, k!, { temperature: 0.5 }) }],
);
