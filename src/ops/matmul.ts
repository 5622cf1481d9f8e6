import { engine } from '../gpu/engine.js';
import { Tensor, numel, type Shape } from '../tensor/tensor.js';
import { randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { broadcastShapes } from './broadcast.js';
import { defineOp } from './registry.js';
import { sumTo } from './reduce.js';
import { expand, pad, reshape } from './shape.js';
import { requireSubgroups } from './subgroups.js';

/**
 * Batched matrix multiplication with NumPy/PyTorch batch broadcasting (torch.matmul for operands of
 * rank >= 2; a rank-1 operand is treated as a row or column vector and its axis dropped again).
 * The kernel (kernels/matmul.wgsl) reads either operand plain or transposed, so the VJPs
 * dA = g·Bᵀ and dB = Aᵀ·g read the saved operands in place.
 */

/** Workgroup geometry of kernels/matmul.wgsl: LANES lanes × 4 columns, GROUPS × LANES rows. */
const LANES = 8;

/** One GEMM operand as the kernel reads it: `rows` × `cols` in storage, possibly batched. */
interface Operand {
  t: Tensor;
  /** Elements between batch items (0: shared by every batch item). */
  batch: number;
  /** Storage row length (the contiguous axis), a multiple of 4. */
  stride: number;
  transposed: boolean;
}

function roundUp4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/**
 * Pads the last two axes of `t` to multiples of 4 with zeros when needed (the kernel reads vec4
 * along the contiguous axis and walks K in steps of 4; zeros in K add nothing).
 */
function aligned(t: Tensor): Tensor {
  const r = t.shape[t.ndim - 2]!;
  const c = t.shape[t.ndim - 1]!;
  if (r % 4 === 0 && c % 4 === 0) return t;
  const pads: [number, number][] = t.shape.map(() => [0, 0]);
  pads[t.ndim - 2] = [0, roundUp4(r) - r];
  pads[t.ndim - 1] = [0, roundUp4(c) - c];
  return pad(t, pads);
}

/** The operand batched over `batchShape` (stride 0 when it has no batch of its own). */
function operand(t: Tensor, batchShape: number[], transposed: boolean): { op: Operand; owned: Tensor[] } {
  const owned: Tensor[] = [];
  const own = t.shape.slice(0, -2);
  let src = t;
  if (numel(own) !== 1 && (own.length !== batchShape.length || own.some((d, i) => d !== batchShape[i]))) {
    src = expand(t, [...batchShape, ...t.shape.slice(-2)]);
    owned.push(src);
  }
  const padded = aligned(src);
  if (padded !== src) owned.push(padded);
  const rows = padded.shape[padded.ndim - 2]!;
  const cols = padded.shape[padded.ndim - 1]!;
  return { op: { t: padded, batch: numel(src.shape.slice(0, -2)) === 1 ? 0 : rows * cols, stride: cols, transposed }, owned };
}

/**
 * C[batch, M, N] = op(A)·op(B) where op transposes when the operand is marked so. `m`, `n`, `k` are
 * the logical sizes; operands are already aligned (see `aligned`).
 */
function gemm(a: Operand, b: Operand, m: number, n: number, k: number, batchShape: number[]): Tensor {
  requireSubgroups('matmul');
  const batch = numel(batchShape);
  const out = Tensor.empty([...batchShape, m, n]);
  if (out.size === 0) return out;
  const e = engine();
  // 16 rows per workgroup measured fastest at 1024³ (TM 16: 23.5–25.9 GFLOP/s, TM 24: 23.5,
  // TM 32: 19.8–21.5; docs/kernels-lavapipe.md).
  const groups = m > 8 ? 2 : 1;
  const kernel = e.kernel({ file: 'matmul', constants: { LANES, GROUPS: groups, A_T: a.transposed, B_T: b.transposed } });
  const k4 = roundUp4(k);
  const nLoad = b.transposed ? n : roundUp4(n);
  const maxGroups = e.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const tilesN = Math.ceil(n / (4 * LANES));
  const tilesM = Math.ceil(m / (groups * LANES));
  for (let b0 = 0; b0 < batch; b0 += maxGroups) {
    const count = Math.min(maxGroups, batch - b0);
    e.dispatch(
      kernel,
      { a: a.t.buffer, b: b.t.buffer, c: out.buffer },
      {
        m, n: nLoad, k: k4,
        a_offset: a.t.byteOffset / 4 + b0 * a.batch, b_offset: b.t.byteOffset / 4 + b0 * b.batch, c_offset: b0 * m * n,
        a_batch: a.batch, b_batch: b.batch, c_batch: m * n,
        a_stride: a.stride, b_stride: b.stride, c_stride: n, n_store: n, m_load: roundUp4(m),
      },
      [tilesN, tilesM, count],
    );
  }
  return out;
}

function checkMatmul(a: Tensor, b: Tensor): void {
  a.live();
  b.live();
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new TakError(`matmul() needs f32 tensors, got ${a.dtype} and ${b.dtype}`);
  if (a.ndim < 1 || b.ndim < 1) throw new TakError('matmul() needs tensors of rank >= 1');
  const k = a.shape[a.ndim - 1]!;
  const kb = b.ndim === 1 ? b.shape[0]! : b.shape[b.ndim - 2]!;
  if (k !== kb) {
    throw new TakError(`matmul(): inner dimensions differ: ${show([...a.shape])} · ${show([...b.shape])} (${k} vs ${kb})`);
  }
}

/** Matrix product of two operands of rank >= 2 (batch dims broadcast). */
function matmul2(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = b.shape[b.ndim - 1]!;
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const A = operand(a, batchShape, false);
  const B = operand(b, batchShape, false);
  const out = gemm(A.op, B.op, m, n, k, batchShape);
  for (const t of [...A.owned, ...B.owned]) t.dispose();
  return out;
}

/** g·Bᵀ for g [batch, M, N] and b [.., K, N] read transposed: [batch, M, K]. */
function timesTransposed(g: Tensor, b: Tensor, batchShape: number[]): Tensor {
  const m = g.shape[g.ndim - 2]!;
  const k = b.shape[b.ndim - 2]!;
  const n = b.shape[b.ndim - 1]!;
  const G = operand(g, batchShape, false);
  const B = operand(b, batchShape, true);
  const out = gemm(G.op, B.op, m, k, n, batchShape);
  for (const t of [...G.owned, ...B.owned]) t.dispose();
  return out;
}

/** Aᵀ·g for a [.., M, K] read transposed and g [batch, M, N]: [batch, K, N]. */
function transposedTimes(a: Tensor, g: Tensor, batchShape: number[]): Tensor {
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = g.shape[g.ndim - 1]!;
  const A = operand(a, batchShape, true);
  const G = operand(g, batchShape, false);
  const out = gemm(A.op, G.op, k, n, m, batchShape);
  for (const t of [...A.owned, ...G.owned]) t.dispose();
  return out;
}

const matmulNd: (a: Tensor, b: Tensor) => Tensor = defineOp({
  name: 'matmul_nd',
  family: 'matmul',
  forward: (a: Tensor, b: Tensor) => {
    const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return {
      out: matmul2(a, b),
      inputs: [a, b],
      vjp: (g) => [sumTo(timesTransposed(g, b, batchShape), a.shape), sumTo(transposedTimes(a, g, batchShape), b.shape)],
    };
  },
  gradcheck: [
    { label: '3x5 . 5x7 (unaligned)', inputs: () => [randn([3, 5], 0, 1, { seed: 500 }), randn([5, 7], 0, 1, { seed: 501 })] },
    { label: '2x4x8 . 8x4 (shared B)', inputs: () => [randn([2, 4, 8], 0, 1, { seed: 502 }), randn([8, 4], 0, 1, { seed: 503 })] },
    { label: '2x1x3x6 . 3x6x5 (broadcast)', inputs: () => [randn([2, 1, 3, 6], 0, 1, { seed: 504 }), randn([3, 6, 5], 0, 1, { seed: 505 })] },
  ],
});

/**
 * a·bᵀ for a [..., M, K] and b [..., N, K] (batch axes broadcast): the GEMM reads b transposed,
 * so Linear layers (x·Wᵀ) never copy their weights. VJP: da = g·b, db = gᵀ·a.
 */
export const matmulTransposed: (a: Tensor, b: Tensor) => Tensor = defineOp({
  name: 'matmul_transposed',
  family: 'matmul',
  forward: (a: Tensor, b: Tensor) => {
    a.live();
    b.live();
    if (a.ndim < 2 || b.ndim < 2 || a.shape[a.ndim - 1] !== b.shape[b.ndim - 1] || a.dtype !== 'f32' || b.dtype !== 'f32') {
      throw new TakError(`matmulTransposed: f32 a [..., M, K] and b [..., N, K] needed, got ${a.dtype}${show([...a.shape])} and ${b.dtype}${show([...b.shape])}`);
    }
    const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return {
      out: timesTransposed(a, b, batchShape),
      inputs: [a, b],
      vjp: (g) => [sumTo(matmul2(g, b), a.shape), sumTo(transposedTimes(g, a, batchShape), b.shape)],
    };
  },
  gradcheck: [
    { label: '3x5 . (7x5)T', inputs: () => [randn([3, 5], 0, 1, { seed: 510 }), randn([7, 5], 0, 1, { seed: 511 })] },
    { label: '2x4x8 . (6x8)T shared', inputs: () => [randn([2, 4, 8], 0, 1, { seed: 512 }), randn([6, 8], 0, 1, { seed: 513 })] },
  ],
});

/** torch.matmul: rank-1 operands become a row (left) or column (right) vector, then squeezed. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkMatmul(a, b);
  const left = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const right = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const out = matmulNd(left, right);
  if (left === a && right === b) return out;
  const shape: Shape = out.shape.filter((_, i) => !((a.ndim === 1 && i === out.ndim - 2) || (b.ndim === 1 && i === out.ndim - 1)));
  const squeezed = reshape(out, shape);
  out.dispose();
  if (left !== a) left.dispose();
  if (right !== b) right.dispose();
  return squeezed;
}
