import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor } from '../tensor/tensor.js';
import { TakError, show } from '../util/errors.js';
import { outerRuns, runBinding } from './chunks.js';
import { pad, slice } from './shape.js';
import { requireSubgroups } from './subgroups.js';

/**
 * Dispatch helpers shared by conv.ts and conv-transpose.ts: geometry, loader choice, weight
 * packing (kernels/conv3d_pack.wgsl), the implicit-GEMM convolution and its weight gradient
 * (kernels/conv3d.wgsl). Everything works on NCDHW tensors; nothing unfolds the input in memory.
 */

export type Triple = [number, number, number];

/** A convolution as the kernel sees it: `input` is gathered, `out` is the GEMM's column grid. */
export interface Geometry {
  n: number;
  cin: number;
  input: Triple;
  out: Triple;
  kernel: Triple;
  stride: Triple;
  /** Leading padding per axis (trailing padding only shapes `out`). */
  pad: Triple;
  dilation: Triple;
  /** Gather as a transposed convolution (output o takes input i where i·s − p + t·d = o). */
  transposed: boolean;
}

export const enum Loader {
  General = 0,
  Row3 = 1,
  Pair2 = 2,
  Point = 3,
}

const vol = (t: Triple) => t[0] * t[1] * t[2];
const same = (a: Triple, b: Triple) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/** The fastest loader of kernels/conv3d.wgsl that handles `g` exactly. */
export function chooseLoader(g: Geometry): Loader {
  if (isRow3(g)) return Loader.Row3;
  const ow = g.out[2];
  if (g.transposed || ow % 4 !== 0) return Loader.General;
  const iw = g.input[2];
  if (g.kernel[1] === 2 && g.kernel[2] === 2 && g.stride[1] === 2 && g.stride[2] === 2 && g.pad[1] === 0 && g.pad[2] === 0 && iw % 4 === 0) {
    return Loader.Pair2;
  }
  if (same(g.kernel, [1, 1, 1]) && same(g.stride, [1, 1, 1]) && same(g.pad, [0, 0, 0]) && same(g.input, g.out)) return Loader.Point;
  return Loader.General;
}

/**
 * kw = 3, stride 1, pad 1 along w: the row loader, also when W % 4 != 0 (then the input is padded
 * with zero columns up to a multiple of 4 and the output cut back; see widened()).
 */
function isRow3(g: Geometry): boolean {
  return !g.transposed && g.kernel[2] === 3 && g.stride[2] === 1 && g.dilation[2] === 1 && g.pad[2] === 1 && g.input[2] === g.out[2];
}

/**
 * For a row-loader geometry whose W is not a multiple of 4 (V-Net's 6³ level): the geometry on W
 * rounded up, and the zero-padded copies of the given tensors. The extra zero columns are exactly
 * the convolution's right padding, so outputs w < W are unchanged; 33% more work at W = 6 beats
 * the general loader's 16 scalar gathers per k-block by ~6×.
 */
function widened(g: Geometry, tensors: Tensor[]): { g: Geometry; tensors: Tensor[] } | null {
  const w = g.out[2];
  if (w % 4 === 0 || !isRow3(g)) return null;
  const w4 = roundUp4(w);
  const padded = tensors.map((t) => padW(t, w4));
  return { g: { ...g, input: [g.input[0], g.input[1], w4], out: [g.out[0], g.out[1], w4] }, tensors: padded };
}

function roundUp4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** [N, C, D, H, W] → [N, C, D, H, w4] with zero columns appended along W. */
function padW(t: Tensor, w4: number): Tensor {
  return pad(t, [[0, 0], [0, 0], [0, 0], [0, 0], [0, w4 - t.shape[4]!]]);
}

/** Number of k-blocks of `loader` for `kc` reduction channels. */
function kBlocks(loader: Loader, kc: number, kernel: Triple): number {
  switch (loader) {
    case Loader.Row3: return kc * kernel[0] * kernel[1];
    case Loader.Pair2: return kc * kernel[0];
    case Loader.Point: return Math.ceil(kc / 4);
    default: return Math.ceil((kc * vol(kernel)) / 4);
  }
}

/**
 * Rows per workgroup: the smallest multiple of 8 covering `rows`, at most 32 — or 16 for the row
 * loader, whose forward then runs two 32-voxel sub-tiles per workgroup (VPL 2): measured in one
 * process, alternating, 8 clean runs each: 32→32 48³ median 39.0 vs 33.5 GFLOP/s (TM 32), 64→64
 * 24³ 41.5 vs 35.0, 16→16 96³ 35.4 vs 30.3; the pair and point loaders are faster with TM 32.
 * Eight rows (the cpu preset's 8-channel layers) take two sub-tiles as well:
 * `TAK_WGPU_BENCH_CONV='8->8' npm run bench -- conv`, alternating, forward 81.0 / 85.5 ms with one
 * sub-tile against 65.8 / 59.5 ms with two (forward+backward 256 / 307 against 204 / 238 ms).
 */
export function tileRows(rows: number, loader?: Loader): number {
  return Math.min(loader === Loader.Row3 ? 16 : 32, Math.ceil(rows / 8) * 8);
}

/** Sub-tiles per forward workgroup (see tileRows). */
function subTiles(packed: Packed): number {
  return packed.loader === Loader.Row3 && packed.tm <= 16 ? 2 : 1;
}

export interface Packed {
  a: Tensor;
  rows: number;
  rowsPadded: number;
  kBlocks: number;
  loader: Loader;
  tm: number;
}

/**
 * Packs weights `w` viewed as W[rows, kc, taps] (or W[kc, rows, taps] when `swap`) into the k-block
 * layout of `loader`; `flip` reverses the taps. The packed tensor is cached on w's memory until w
 * is written again (Tensor.derived): a parameter is packed once per optimiser step, not once per
 * convolution call (~250 pack dispatches per cpu-preset training iteration before). Callers must
 * not dispose `a`.
 */
export function packWeights(w: Tensor, rows: number, kc: number, kernel: Triple, loader: Loader, swap: boolean, flip: boolean): Packed {
  const tm = tileRows(rows, loader);
  const rowsPadded = Math.ceil(rows / tm) * tm;
  const blocks = kBlocks(loader, kc, kernel);
  const a = w.derived(`conv3d_pack:${rows},${kc},${kernel.join('x')},${loader},${swap},${flip}`, () => {
    const packed = Tensor.empty([blocks, rowsPadded, 4]);
    const e = engine();
    const kernelSpec = e.kernel({ file: 'conv3d_pack', constants: { LOADER: loader, SWAP: swap, FLIP: flip, WG: 64 } });
    e.dispatch(
      kernelSpec,
      { w: w.binding, out: packed.binding },
      { rows, rows_padded: rowsPadded, k_blocks: blocks, kc, kd: kernel[0], kh: kernel[1], kw: kernel[2] },
      grid(Math.ceil(packed.size / 4 / 64)),
    );
    return packed;
  });
  return { a, rows, rowsPadded, kBlocks: blocks, loader, tm };
}

function geometryParams(g: Geometry) {
  return {
    cin: g.cin,
    id: g.input[0], ih: g.input[1], iw: g.input[2],
    od: g.out[0], oh: g.out[1], ow: g.out[2],
    kd: g.kernel[0], kh: g.kernel[1], kw: g.kernel[2],
    sd: g.stride[0], sh: g.stride[1], sw: g.stride[2],
    pd: g.pad[0], ph: g.pad[1], pw: g.pad[2],
    dd: g.dilation[0], dh: g.dilation[1], dw: g.dilation[2],
  };
}

export interface GemmOptions {
  bias?: Tensor | null;
  relu?: boolean;
  /** Rows are (Cout, kd, kh, kw) of a 2×2×2 stride-2 transposed convolution (output 2× `out`). */
  scatter2?: boolean;
  /** Output channels of y (default: packed rows). */
  outChannels?: number;
  /**
   * Add the result into this tensor (y's shape) and return it instead of a new one: an input
   * gradient added to the gradient so far by the kernel's epilogue, not by a separate add pass.
   * Not taken on the padded-W path (the padded result is cut back first); check what came back.
   */
  into?: Tensor | null;
}

/**
 * y[n, row, out] = Σ_k A[row, k]·X̃[k, (n, out)] (+ bias, ReLU), dispatched per run of samples whose
 * input and output slices fit one binding.
 */
export function convGemm(x: Tensor, packed: Packed, g: Geometry, options: GemmOptions = {}): Tensor {
  requireSubgroups('conv3d');
  const wide = widened(g, [x]);
  if (wide) {
    const y = convGemm(wide.tensors[0]!, packed, wide.g, { ...options, into: null });
    wide.tensors[0]!.dispose();
    const cut = slice(y, [null, null, null, null, [0, g.out[2]]]);
    y.dispose();
    return cut;
  }
  const outVox = vol(g.out);
  const scatter = options.scatter2 ?? false;
  const outChannels = options.outChannels ?? packed.rows;
  const yPerSample = outChannels * outVox * (scatter ? 8 : 1);
  const yShape = scatter ? g.out.map((d) => 2 * d) : g.out;
  const shape = [g.n, outChannels, ...yShape];
  const { into } = options;
  if (into && (into.dtype !== 'f32' || into.shape.length !== 5 || into.shape.some((d, i) => d !== shape[i]))) {
    throw new TakError(`conv3d: the tensor to accumulate into is ${into.dtype}${show([...into.shape])}, the result is f32${show(shape)}`);
  }
  const y = into ?? Tensor.empty(shape);
  if (y.size === 0) return y;
  const vecIo = outVox % 4 === 0;
  const e = engine();
  const kernel = e.kernel({
    file: 'conv3d',
    constants: {
      TM: packed.tm, VPL: subTiles(packed), LOADER: packed.loader, USED: packed.loader === Loader.Row3 ? 3 : 4, TRANSPOSED: g.transposed,
      VEC_IO: vecIo, SCATTER2: scatter, HAS_BIAS: Boolean(options.bias), RELU: options.relu ?? false, ACCUMULATE: Boolean(options.into),
    },
  });
  const xPerSample = g.cin * vol(g.input);
  const maxGroups = e.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  for (const run of outerRuns('conv3d', g.n, [xPerSample, yPerSample])) {
    const columns = run.count * outVox;
    const tiles = Math.ceil(columns / (32 * subTiles(packed)));
    const yRef = runBinding(y, run, yPerSample);
    const z = Math.ceil(tiles / maxGroups);
    e.dispatch(
      kernel,
      {
        a4: packed.a.binding, a1: packed.a.binding, x4: runBinding(x, run, xPerSample), x1: runBinding(x, run, xPerSample),
        bias: options.bias ? options.bias.binding : e.standIn(false), y4: vecIo || scatter ? yRef : e.standIn(true), y1: vecIo || scatter ? e.standIn(true) : yRef,
      },
      {
        columns, rows: scatter ? outChannels * 8 : packed.rows, rows_padded: packed.rowsPadded, k_blocks: packed.kBlocks,
        out_c: outChannels, ...geometryParams({ ...g, n: run.count }), a_offset: 0, x_offset: 0, y_offset: 0, per_split: 0, cols_padded: 0,
      },
      [Math.ceil(tiles / z), packed.rowsPadded / packed.tm, z],
    );
  }
  return y;
}

/** Workgroups the weight gradient's split-K grid aims at; null: by adapter (256 on a CPU, 16,384 on a GPU). */
let weightGradientWorkgroups: number | null = null;

/** Sets that target (tests run the GPU-sized grid on lavapipe); returns the previous one. */
export function setWeightGradientWorkgroups(target: number | null): number | null {
  const previous = weightGradientWorkgroups;
  weightGradientWorkgroups = target;
  return previous;
}

/**
 * dW[row, kc, taps] = Σ_{n, out} G[n, row, out]·X̃[(kc, tap), (n, out)] for the convolution `g` that
 * gathers x: split-K partial sums (one per run of voxel blocks) reduced in a fixed order.
 */
export function weightGradient(gOut: Tensor, x: Tensor, g: Geometry): Tensor {
  return weightAndBiasGradient(gOut, x, g, false).dw;
}

/** Gradients a weight gradient adds its result to (in place) instead of returning new ones. */
export interface GradientsSoFar {
  dw?: Tensor | null;
  db?: Tensor | null;
}

/**
 * weightGradient, and with `bias` also db[row] = Σ_{n, out} G[n, row, out] from the same pass;
 * each is added into `into`'s tensor when one is given (and then returned).
 */
export function weightAndBiasGradient(gOut: Tensor, x: Tensor, g: Geometry, bias: boolean, into: GradientsSoFar = {}): { dw: Tensor; db: Tensor | null } {
  requireSubgroups('conv3d weight gradient');
  const wide = widened(g, [gOut, x]);
  if (wide) {
    // The zero columns add nothing to either sum.
    const grads = weightAndBiasGradient(wide.tensors[0]!, wide.tensors[1]!, wide.g, bias, into);
    for (const t of wide.tensors) t.dispose();
    return grads;
  }
  const rows = gOut.shape[1]!;
  const loader = chooseLoader(g);
  const tm = tileRows(rows);
  const rowsPadded = Math.ceil(rows / tm) * tm;
  const blocks = kBlocks(loader, g.cin, g.kernel);
  const colTiles = Math.ceil(blocks / 8);
  const outVox = vol(g.out);
  const gPerSample = rows * outVox;
  const xPerSample = g.cin * vol(g.input);
  const e = engine();
  const kernel = e.kernel({
    file: 'conv3d',
    constants: { TM: tm, LOADER: loader, WGRAD: true, TRANSPOSED: g.transposed, VEC_IO: outVox % 4 === 0 && loader !== Loader.General, HAS_BIAS: bias },
  });
  const runs = outerRuns('conv3d weight gradient', g.n, [xPerSample, gPerSample]);
  const dw = into.dw ?? Tensor.empty([rows, g.cin, ...g.kernel]);
  const db = bias ? (into.db ?? Tensor.empty([rows])) : null;
  const colsPadded = colTiles * 8 + (bias ? 1 : 0);
  runs.forEach((run, i) => {
    const columns = run.count * outVox;
    const voxelBlocks = Math.ceil(columns / 4);
    // Enough splits to give a CPU adapter's cores work, or to fill a GPU's multiprocessors (with
    // 256 workgroups an H100 ran the 16→16 96³ weight gradient at 750 GFLOP/s against 6,000 for
    // the forward); each split long enough to amortise its stores.
    const tiles = colTiles * (rowsPadded / tm);
    const target = weightGradientWorkgroups ?? (e.isSoftware ? 256 : 16384);
    const splits = Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(voxelBlocks / 64), 1024));
    const perSplit = Math.ceil(voxelBlocks / splits);
    const used = Math.ceil(voxelBlocks / perSplit);
    const part = Tensor.empty([used, rowsPadded, colsPadded, 4]);
    e.dispatch(
      kernel,
      {
        a4: runBinding(gOut, run, gPerSample), a1: runBinding(gOut, run, gPerSample), x4: runBinding(x, run, xPerSample),
        x1: runBinding(x, run, xPerSample), bias: e.standIn(false), y4: part.binding, y1: e.standIn(true),
      },
      {
        columns, rows, rows_padded: rowsPadded, k_blocks: blocks, out_c: 0, ...geometryParams({ ...g, n: run.count }),
        a_offset: 0, x_offset: 0, y_offset: 0, per_split: perSplit, cols_padded: colsPadded,
      },
      [colTiles, rowsPadded / tm, used],
    );
    sumSplits(part, dw, db, loader, g, i > 0 || Boolean(into.dw), i > 0 || Boolean(into.db));
    part.dispose();
  });
  return { dw, db };
}

/**
 * dW (+)= Σ over splits of the partials [splits, rowsPadded, colBlocks, 4], in split order, written
 * as [rows, kc, kd, kh, kw], and db (+)= the bias sums of the last column when given
 * (kernels/conv3d_unpack.wgsl); addW / addB add to dW / db instead of overwriting them.
 */
function sumSplits(part: Tensor, dw: Tensor, db: Tensor | null, loader: Loader, g: Geometry, addW: boolean, addB: boolean): void {
  const [splits, rowsPadded, colsPadded] = part.shape as [number, number, number];
  const rows = dw.shape[0]!;
  const blocks = kBlocks(loader, g.cin, g.kernel);
  const e = engine();
  const kernel = e.kernel({ file: 'conv3d_unpack', constants: { LOADER: loader, ACCUMULATE_W: addW, ACCUMULATE_B: addB && Boolean(db), BIAS: Boolean(db), WG: 64 } });
  e.dispatch(
    kernel,
    { partials: part.binding, out: dw.binding, db: db ? db.binding : e.standIn(true) },
    { rows, k_blocks: blocks, k: g.cin * vol(g.kernel), splits, rows_padded: rowsPadded, cols_padded: colsPadded },
    grid(Math.ceil((rows * blocks) / 64)),
  );
}

/**
 * A 2×2×2 stride-2 map from a coarse grid to the 2× fine one — V-Net's up-convolution, and the
 * down-convolution's input gradient — as one GEMM [Cout·8 × Cin] whose rows scatter to the
 * interleaved fine grid (w: [Cin, Cout, 2, 2, 2]). Null when it does not apply. The scatter stores
 * a lane's 4 coarse voxels as 8 consecutive fine w positions, so a coarse W that is not a multiple
 * of 4 (the 2³ bottleneck of a 32³ cube) is padded with zero columns, whose fine outputs are cut
 * off: each coarse voxel writes only its own 2×2×2 block. (The transposed gather it replaces ran
 * at ~4.5 GFLOP/s there: ~15 ms per call at 128 ↔ 64 channels, four calls per cpu-preset
 * iteration — the up-convolution and the down-convolution's input gradient, twice each.)
 * `into`: as GemmOptions.into (not taken on the padded path).
 */
export function scatterUpsample2(x: Tensor, w: Tensor, g: Geometry, coarse: Triple, fine: Triple, bias: Tensor | null = null, into: Tensor | null = null): Tensor | null {
  const k2s2 = g.kernel.every((k) => k === 2) && g.stride.every((s) => s === 2) && g.pad.every((p) => p === 0) && g.dilation.every((d) => d === 1);
  if (!k2s2 || fine.some((f, a) => f !== 2 * coarse[a]!)) return null;
  if (coarse[2] % 4 !== 0) {
    const w4 = roundUp4(coarse[2]);
    const xw = padW(x, w4);
    const yw = scatterUpsample2(xw, w, g, [coarse[0], coarse[1], w4], [fine[0], fine[1], 2 * w4], bias)!;
    const y = slice(yw, [null, null, null, null, [0, fine[2]]]);
    xw.dispose();
    yw.dispose();
    return y;
  }
  const [cin, cout] = [w.shape[0]!, w.shape[1]!];
  const point: Geometry = { n: g.n, cin, input: coarse, out: coarse, kernel: [1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], dilation: [1, 1, 1], transposed: false };
  const packed = packWeights(w, cout * 8, cin, [1, 1, 1], Loader.Point, true, false);
  return convGemm(x, packed, point, { bias, scatter2: true, outChannels: cout, into });
}


/** PyTorch's output size of a convolution along one axis. */
export function convOutSize(input: number, kernel: number, stride: number, padBefore: number, padAfter: number, dilation: number): number {
  return Math.floor((input + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride) + 1;
}

export function triple(value: number | readonly number[] | undefined, fallback: number, what: string): Triple {
  const v = value === undefined ? [fallback, fallback, fallback] : typeof value === 'number' ? [value, value, value] : [...value];
  if (v.length !== 3 || v.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TakError(`${what} must be a non-negative integer or three of them, got ${show(value)}`);
  }
  return v as Triple;
}
