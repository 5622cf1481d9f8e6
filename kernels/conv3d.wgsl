// 3-D convolution family in NCDHW as implicit GEMMs on the register-blocked subgroup-shuffle
// micro-kernel of kernels/matmul.wgsl (one workgroup = one 8-lane subgroup; see that file and
// docs/kernels-lavapipe.md for why). Two GEMMs share the input loaders:
//
// Forward (!WGRAD): Y[n, row, v] = sum_k A[row, k] * X~[k, (n, v)]. Rows are output channels; A is
//   the weight matrix packed by kernels/conv3d_pack.wgsl into k-blocks of 4 (a[kb * rows_padded +
//   row] = A[row, 4 slots of kb]); lane l loads row 8g + l of group g and shares it by
//   subgroupShuffle. Columns are output voxels: a lane owns 4 consecutive voxels (a vec4 of Y).
//   Also the input gradient (a convolution of dY with flipped or transposed weights) and the
//   transposed convolution (TRANSPOSED gather, or SCATTER2 for kernel 2 stride 2). With ACCUMULATE
//   the result is added to y (an input gradient into the gradient so far: no separate add pass).
// Weight gradient (WGRAD): P[split, row, cb, slot] = sum over the split's voxels of
//   G[n, row, v] * X~[(cb, slot), (n, v)]. Rows are G's channels (A = G, vec4 along voxels);
//   a lane owns one k-block (4 slots) and walks 4 voxels per step. Splits are summed in a fixed
//   order by kernels/conv3d_unpack.wgsl (deterministic; no float atomics). With HAS_BIAS the
//   first column tile also sums G itself (the bias gradient, Σ over samples and voxels) into
//   the last k-block column of the partials: the G rows it loads anyway, so the bias gradient
//   costs no pass over G of its own.
//
// X~ (the unfolded input) is never stored: load_b builds, for one k-block and 4 consecutive
// voxels, bk[slot] = vec4 over the voxels, with one of these loaders:
//   LOADER 0  any geometry (TRANSPOSED: conv-transpose gather): k-block = 4 consecutive flattened
//             (ci, kd, kh, kw); 16 bounds-checked scalar loads. Correct for everything; slow.
//   LOADER 1  kw = 3, stride_w = 1, pad_w = 1, dilation_w = 1 (V-Net's 3x3x3; W % 4 != 0 is padded
//             with zero columns by the host): k-block
//             = (ci, kd, kh) x kw 0..2; one aligned vec4 serves all three kw taps, the outer
//             neighbours come from the adjacent lanes (forward: subgroupShuffle; one scalar load
//             for the edge lanes) or two scalar loads (WGRAD).
//   LOADER 2  kh = kw = 2, stride_h = stride_w = 2, pad_h = pad_w = 0 (V-Net's down-convolution):
//             k-block = (ci, kd) x (kh, kw): two rows of two aligned vec4, de-interleaved.
//   LOADER 3  1x1x1, stride 1, no padding: k-block = 4 consecutive channels, 4 vec4 loads.
enable subgroups;

struct Params {
  columns: u32,      // N * output voxels
  rows: u32,         // forward: output rows written (SCATTER2: Cout * 8); WGRAD: channels of G
  rows_padded: u32,  // multiple of TM
  k_blocks: u32,     // forward: k-blocks of A; WGRAD: k-blocks (columns) that exist
  cin: u32,          // channels of the input read through the loader
  out_c: u32,        // forward: channels of y
  id: u32, ih: u32, iw: u32,
  od: u32, oh: u32, ow: u32,
  kd: u32, kh: u32, kw: u32,
  sd: u32, sh: u32, sw: u32,
  pd: u32, ph: u32, pw: u32,     // leading padding
  dd: u32, dh: u32, dw: u32,
  a_offset: u32,     // elements
  x_offset: u32,
  y_offset: u32,
  per_split: u32,    // WGRAD: voxel blocks (of 4) per split
  cols_padded: u32,  // WGRAD: k-block columns per row of the partials (+ 1 for the bias sums)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;     // packed weights, or G (WGRAD)
@group(0) @binding(2) var<storage, read> a1: array<f32>;       // the same buffer as a4
@group(0) @binding(3) var<storage, read> x4: array<vec4f>;
@group(0) @binding(4) var<storage, read> x1: array<f32>;       // the same buffer as x4
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> y4: array<vec4f>; // y (VEC_IO) or partials (WGRAD)
@group(0) @binding(7) var<storage, read_write> y1: array<f32>;   // y otherwise; a dummy when unused

override TM: u32 = 32;             // rows per workgroup: 8, 16, 24 or 32 (at most 16 when VPL = 2)
override VPL: u32 = 1;             // forward: 32-voxel sub-tiles per workgroup, 1 or 2
override LOADER: u32 = 0;
override USED: u32 = 4;            // slots of a k-block that carry weights (3 for LOADER 1)
override WGRAD: bool = false;
override TRANSPOSED: bool = false;
override VEC_IO: bool = true;      // output voxels % 4 == 0: vec4 stores (forward) / vec4 G loads
override SCATTER2: bool = false;
override HAS_BIAS: bool = false;     // forward: add the bias; WGRAD: also sum the bias gradient
override RELU: bool = false;
override ACCUMULATE: bool = false;   // forward: y += the result (an input gradient added to the one so far)

alias Rows8 = array<vec4f, 8>;
alias Block4 = array<vec4f, 4>;

// 4 consecutive output voxels (columns): the first one's sample, flattened position and (d, h, w).
struct Vox {
  col: u32,
  n: u32,
  v: u32,
  o: vec3u,
}

// A k-block: LOADER 1 (ci, kd, kh); LOADER 2 (ci, kd, -); LOADER 3 (first ci); LOADER 0 (first k).
struct KPos {
  ci: u32,
  kd: u32,
  kh: u32,
}

fn vox_at(col: u32) -> Vox {
  let ov = p.od * p.oh * p.ow;
  let v = col % ov;
  return Vox(col, col / ov, v, vec3u(v / (p.oh * p.ow), (v / p.ow) % p.oh, v % p.ow));
}

// The next 4 voxels (fast loaders: ow % 4 == 0, so 4 voxels never straddle a row). Incremental, so
// the K loop of WGRAD does no per-lane integer division.
fn vox_next(x: Vox) -> Vox {
  var r = x;
  r.col += 4u;
  r.v += 4u;
  r.o.z += 4u;
  let wrap_w = r.o.z == p.ow;
  r.o.z = select(r.o.z, 0u, wrap_w);
  r.o.y = select(r.o.y, r.o.y + 1u, wrap_w);
  let wrap_h = r.o.y == p.oh;
  r.o.y = select(r.o.y, 0u, wrap_h);
  r.o.x = select(r.o.x, r.o.x + 1u, wrap_h);
  let wrap_n = r.v == p.od * p.oh * p.ow;
  r.o.x = select(r.o.x, 0u, wrap_n);
  r.v = select(r.v, 0u, wrap_n);
  r.n = select(r.n, r.n + 1u, wrap_n);
  return r;
}

fn kpos_at(kb: u32) -> KPos {
  switch LOADER {
    case 1u: { return KPos(kb / (p.kd * p.kh), (kb / p.kh) % p.kd, kb % p.kh); }
    case 2u: { return KPos(kb / p.kd, kb % p.kd, 0u); }
    default: { return KPos(4u * kb, 0u, 0u); }
  }
}

// The next k-block of the forward K loop, without division.
fn kpos_next(k: KPos) -> KPos {
  var r = k;
  switch LOADER {
    case 1u: {
      r.kh += 1u;
      let wrap_h = r.kh == p.kh;
      r.kh = select(r.kh, 0u, wrap_h);
      r.kd = select(r.kd, r.kd + 1u, wrap_h);
      let wrap_d = r.kd == p.kd;
      r.kd = select(r.kd, 0u, wrap_d);
      r.ci = select(r.ci, r.ci + 1u, wrap_d);
    }
    case 2u: {
      r.kd += 1u;
      let wrap_d = r.kd == p.kd;
      r.kd = select(r.kd, 0u, wrap_d);
      r.ci = select(r.ci, r.ci + 1u, wrap_d);
    }
    default: { r.ci += 4u; }
  }
  return r;
}

// LOADER 0: the unfolded input at output column c and flattened k = (ci, tap); 0 outside.
fn gather(c: u32, k: u32) -> f32 {
  let taps = p.kd * p.kh * p.kw;
  if (c >= p.columns || k >= p.cin * taps) { return 0.0; }
  let x = vox_at(c);
  let ci = k / taps;
  let t = k % taps;
  let tap = vec3u(t / (p.kh * p.kw), (t / p.kw) % p.kh, t % p.kw);
  let stride = vec3u(p.sd, p.sh, p.sw);
  let pad = vec3i(vec3u(p.pd, p.ph, p.pw));
  let dil = vec3u(p.dd, p.dh, p.dw);
  var i: vec3i;
  if (TRANSPOSED) {
    // Transposed convolution (the adjoint of a strided one): output o takes input i where
    // i * stride - pad + tap * dil == o.
    let num = vec3i(x.o) + pad - vec3i(tap * dil);
    if (any(num < vec3i(0)) || any(vec3u(num) % stride != vec3u(0))) { return 0.0; }
    i = vec3i(vec3u(num) / stride);
  } else {
    i = vec3i(x.o * stride + tap * dil) - pad;
  }
  if (any(i < vec3i(0)) || any(vec3u(i) >= vec3u(p.id, p.ih, p.iw))) { return 0.0; }
  let at = (((x.n * p.cin + ci) * p.id + u32(i.x)) * p.ih + u32(i.y)) * p.iw + u32(i.z);
  return x1[p.x_offset + at];
}

// Element index of input row (n, ci, d, h, 0) for output row (o.x, o.y) and taps (kd, kh), and
// whether that row lies inside the input (outside rows read row 0 and are zeroed by the caller).
fn input_row(x: Vox, ci: u32, kd: u32, kh: u32) -> vec2u {
  let d = i32(x.o.x * p.sd + kd * p.dd) - i32(p.pd);
  let h = i32(x.o.y * p.sh + kh * p.dh) - i32(p.ph);
  let inside = d >= 0 && h >= 0 && u32(d) < p.id && u32(h) < p.ih;
  let row = ((x.n * p.cin + ci) * p.id + u32(max(d, 0))) * p.ih + u32(max(h, 0));
  return vec2u(p.x_offset + select(0u, row, inside) * p.iw, u32(inside));
}

fn load_row3(x: Vox, k: KPos, lane: u32) -> Block4 {
  let r = input_row(x, k.ci, k.kd, k.kh);
  let at = r.x + x.o.z;                                  // a multiple of 4
  let cur = x4[at / 4u];
  var left: f32;
  var right: f32;
  if (WGRAD) {
    left = x1[max(at, 1u) - 1u];
    right = x1[min(at + 4u, arrayLength(&x1) - 1u)];
  } else {
    // Adjacent lanes hold the adjacent voxels; the two edge lanes load the one they lack.
    let edge = x1[min(select(at + 4u, max(at, 1u) - 1u, lane == 0u), arrayLength(&x1) - 1u)];
    left = select(subgroupShuffle(cur.w, (lane + 7u) % 8u), edge, lane == 0u);
    right = select(subgroupShuffle(cur.x, (lane + 1u) % 8u), edge, lane == 7u);
  }
  let valid = r.y != 0u;
  let c = select(vec4f(0.0), cur, valid);
  let l = select(0.0, left, valid && x.o.z > 0u);
  let rt = select(0.0, right, valid && x.o.z + 4u < p.ow);
  var bk: Block4;
  bk[0] = vec4f(l, c.x, c.y, c.z);
  bk[1] = c;
  bk[2] = vec4f(c.y, c.z, c.w, rt);
  bk[3] = vec4f(0.0);
  return bk;
}

fn load_pair2(x: Vox, k: KPos) -> Block4 {
  var bk: Block4;
  for (var h = 0u; h < 2u; h++) {
    let r = input_row(x, k.ci, k.kd, h);
    let at = (r.x + 2u * x.o.z) / 4u;
    let lo = select(vec4f(0.0), x4[at], r.y != 0u);
    let hi = select(vec4f(0.0), x4[at + 1u], r.y != 0u);
    bk[2u * h] = vec4f(lo.x, lo.z, hi.x, hi.z);
    bk[2u * h + 1u] = vec4f(lo.y, lo.w, hi.y, hi.w);
  }
  return bk;
}

fn load_point(x: Vox, k: KPos) -> Block4 {
  var bk: Block4;
  let plane = p.id * p.ih * p.iw;
  for (var s = 0u; s < 4u; s++) {
    let ci = min(k.ci + s, p.cin - 1u);
    bk[s] = select(vec4f(0.0), x4[(p.x_offset + (x.n * p.cin + ci) * plane + x.v) / 4u], k.ci + s < p.cin);
  }
  return bk;
}

fn load_general(x: Vox, k: KPos) -> Block4 {
  var bk: Block4;
  for (var s = 0u; s < 4u; s++) {
    bk[s] = vec4f(gather(x.col, k.ci + s), gather(x.col + 1u, k.ci + s), gather(x.col + 2u, k.ci + s), gather(x.col + 3u, k.ci + s));
  }
  return bk;
}

// bk[slot] = the unfolded input of k-block k at the 4 voxels of x (vec4 over the voxels).
fn load_b(x: Vox, k: KPos, lane: u32) -> Block4 {
  switch LOADER {
    case 1u: { return load_row3(x, k, lane); }
    case 2u: { return load_pair2(x, k); }
    case 3u: { return load_point(x, k); }
    default: { return load_general(x, k); }
  }
}

// acc[l] += sum_slot av_l[slot] * bk[slot], where lane l holds the A row of acc[l] in av.
fn accumulate(acc: ptr<function, Rows8>, av: vec4f, bk: Block4) {
  for (var l = 0u; l < 8u; l++) {
    let s = subgroupShuffle(av, l);
    var sum = s.x * bk[0] + s.y * bk[1];
    if (USED > 2u) { sum += s.z * bk[2]; }
    if (USED > 3u) { sum += s.w * bk[3]; }
    (*acc)[l] += sum;
  }
}

// WGRAD: the roles flip. acc[l] (vec4 over this lane's slots) += sum_j G[row l, voxel j] * bt[j],
// where bt[j] (vec4 over slots) is the transpose of the loader's bk.
fn accumulate_wgrad(acc: ptr<function, Rows8>, gv: vec4f, bt: Block4) {
  for (var l = 0u; l < 8u; l++) {
    let s = subgroupShuffle(gv, l);
    (*acc)[l] += s.x * bt[0] + s.y * bt[1] + s.z * bt[2] + s.w * bt[3];
  }
}

// WGRAD: this lane's row of group g of G at the 4 voxels of x.
fn load_g(x: Vox, row: u32) -> vec4f {
  let ov = p.od * p.oh * p.ow;
  let r = min(row, p.rows - 1u);
  if (VEC_IO) { return a4[(p.a_offset + (x.n * p.rows + r) * ov + x.v) / 4u]; }
  var g: vec4f;
  for (var j = 0u; j < 4u; j++) {
    let c = x.col + j;
    let at = p.a_offset + ((c / ov) * p.rows + r) * ov + c % ov;
    g[j] = select(0.0, a1[min(at, arrayLength(&a1) - 1u)], c < p.columns);
  }
  return g;
}

fn epilogue(row: u32, v: vec4f) -> vec4f {
  if (RELU) { return max(v, vec4f(0.0)); }
  return v;
}

// The accumulators start at the bias: each lane loads its row's value once and the shuffle hands
// it to every lane (a per-row load in the epilogue was 8 per-lane loops per row group).
fn bias_rows(m0: u32, g: u32, lane: u32) -> Rows8 {
  var acc: Rows8;
  if (HAS_BIAS) {
    let row = min(m0 + 8u * g + lane, p.rows_padded - 1u);
    let b = bias[min(select(row, row / 8u, SCATTER2), arrayLength(&bias) - 1u)];
    for (var l = 0u; l < 8u; l++) { acc[l] = vec4f(subgroupShuffle(b, l)); }
  }
  return acc;
}

fn store4(at: u32, v: vec4f) {
  if (ACCUMULATE) { y4[at] += v; } else { y4[at] = v; }
}

fn store_rows(x: Vox, m0: u32, g: u32, acc: Rows8) {
  let ov = p.od * p.oh * p.ow;
  if (SCATTER2) {
    // Rows 8c .. 8c + 7 are output channel c's taps (kd, kh, kw); kw pairs interleave along w.
    let co = (m0 + 8u * g) / 8u;
    if (co >= p.out_c || x.col >= p.columns) { return; }
    let base = p.y_offset + (x.n * p.out_c + co) * ov * 8u;
    for (var t = 0u; t < 4u; t++) {
      let v0 = epilogue(m0 + 8u * g, acc[2u * t]);
      let v1 = epilogue(m0 + 8u * g, acc[2u * t + 1u]);
      let at = (base + ((2u * x.o.x + t / 2u) * 2u * p.oh + 2u * x.o.y + t % 2u) * 2u * p.ow + 2u * x.o.z) / 4u;
      store4(at, vec4f(v0.x, v1.x, v0.y, v1.y));
      store4(at + 1u, vec4f(v0.z, v1.z, v0.w, v1.w));
    }
    return;
  }
  for (var i = 0u; i < 8u; i++) {
    let row = m0 + 8u * g + i;
    if (row >= p.rows) { return; }
    let v = epilogue(row, acc[i]);
    if (VEC_IO) {
      if (x.col >= p.columns) { return; }
      store4((p.y_offset + (x.n * p.out_c + row) * ov + x.v) / 4u, v);
    } else {
      for (var j = 0u; j < 4u; j++) {
        let c = x.col + j;
        if (c < p.columns) {
          let at = p.y_offset + ((c / ov) * p.out_c + row) * ov + c % ov;
          if (ACCUMULATE) { y1[at] += v[j]; } else { y1[at] = v[j]; }
        }
      }
    }
  }
}

fn store_partials(split: u32, m0: u32, g: u32, cb: u32, acc: Rows8) {
  for (var i = 0u; i < 8u; i++) {
    y4[(split * p.rows_padded + m0 + 8u * g + i) * p.cols_padded + cb] = acc[i];
  }
}

// WGRAD with HAS_BIAS: this lane's Σ G (a vec4 over voxel slots) in the partials' last column.
fn store_bias_sums(split: u32, m0: u32, g: u32, lane: u32, v: vec4f) {
  y4[(split * p.rows_padded + m0 + 8u * g + lane) * p.cols_padded + p.cols_padded - 1u] = v;
}

fn clamp_col(col: u32) -> u32 {
  // Lanes past the last column compute on a clamped column and store nothing.
  return select(col, max(p.columns, 4u) - 4u, col >= p.columns && LOADER != 0u);
}

// One workgroup: TM rows × VPL sub-tiles of 32 voxels. With VPL 2 (TM <= 16) every weight load
// serves two sub-tiles: the accumulators are (group, sub-tile) = acc0 (0, 0), acc1 (1, 0),
// acc2 (0, 1), acc3 (1, 1); with VPL 1 acc0..3 are row groups 0..3 of the one sub-tile.
fn forward(tile: u32, m0: u32, lane: u32) {
  let col0 = tile * VPL * 32u + 4u * lane;
  let col1 = col0 + 32u * (VPL - 1u);
  let x0 = vox_at(clamp_col(col0));
  let x1 = vox_at(clamp_col(col1));
  let two = VPL > 1u;
  var acc0 = bias_rows(m0, 0u, lane);
  var acc1: Rows8; var acc2: Rows8; var acc3: Rows8;
  if (TM > 8u) { acc1 = bias_rows(m0, 1u, lane); }
  if (two) { acc2 = acc0; acc3 = acc1; }
  if (!two && TM > 16u) { acc2 = bias_rows(m0, 2u, lane); }
  if (!two && TM > 24u) { acc3 = bias_rows(m0, 3u, lane); }
  var k = kpos_at(0u);
  for (var kb = 0u; kb < p.k_blocks; kb++) {
    let bk = load_b(x0, k, lane);
    var bl: Block4;
    if (two) { bl = load_b(x1, k, lane); }
    k = kpos_next(k);
    let at = kb * p.rows_padded + m0 + lane;
    let a0 = a4[at];
    accumulate(&acc0, a0, bk);
    if (two) { accumulate(&acc2, a0, bl); }
    if (TM > 8u) {
      let a1 = a4[at + 8u];
      accumulate(&acc1, a1, bk);
      if (two) { accumulate(&acc3, a1, bl); }
    }
    if (!two && TM > 16u) { accumulate(&acc2, a4[at + 16u], bk); }
    if (!two && TM > 24u) { accumulate(&acc3, a4[at + 24u], bk); }
  }
  var out0 = x0;
  out0.col = col0;
  var out1 = x1;
  out1.col = col1;
  store_rows(out0, m0, 0u, acc0);
  if (TM > 8u) { store_rows(out0, m0, 1u, acc1); }
  if (two) {
    store_rows(out1, m0, 0u, acc2);
    if (TM > 8u) { store_rows(out1, m0, 1u, acc3); }
  } else {
    if (TM > 16u) { store_rows(out0, m0, 2u, acc2); }
    if (TM > 24u) { store_rows(out0, m0, 3u, acc3); }
  }
}

fn weight_grad(cb: u32, m0: u32, split: u32, lane: u32) {
  let k = kpos_at(min(cb, p.k_blocks - 1u));
  let first = split * p.per_split;
  let last = min(first + p.per_split, (p.columns + 3u) / 4u);
  var x = vox_at(4u * first);
  var acc0: Rows8; var acc1: Rows8; var acc2: Rows8; var acc3: Rows8;
  // HAS_BIAS: Σ G of this lane's row in row groups 0..3 (separate variables, not an array a
  // non-unrolled loop would index: that becomes scratch memory on llvmpipe).
  var gs0 = vec4f(0.0); var gs1 = vec4f(0.0); var gs2 = vec4f(0.0); var gs3 = vec4f(0.0);
  for (var blk = first; blk < last; blk++) {
    let bk = load_b(x, k, lane);
    let bt = Block4(vec4f(bk[0].x, bk[1].x, bk[2].x, bk[3].x), vec4f(bk[0].y, bk[1].y, bk[2].y, bk[3].y),
                    vec4f(bk[0].z, bk[1].z, bk[2].z, bk[3].z), vec4f(bk[0].w, bk[1].w, bk[2].w, bk[3].w));
    let g0 = load_g(x, m0 + lane);
    accumulate_wgrad(&acc0, g0, bt);
    if (HAS_BIAS) { gs0 += g0; }
    if (TM > 8u) { let g1 = load_g(x, m0 + 8u + lane); accumulate_wgrad(&acc1, g1, bt); if (HAS_BIAS) { gs1 += g1; } }
    if (TM > 16u) { let g2 = load_g(x, m0 + 16u + lane); accumulate_wgrad(&acc2, g2, bt); if (HAS_BIAS) { gs2 += g2; } }
    if (TM > 24u) { let g3 = load_g(x, m0 + 24u + lane); accumulate_wgrad(&acc3, g3, bt); if (HAS_BIAS) { gs3 += g3; } }
    if (LOADER == 0u || !VEC_IO) { x = vox_at(x.col + 4u); } else { x = vox_next(x); }
  }
  store_partials(split, m0, 0u, cb, acc0);
  if (TM > 8u) { store_partials(split, m0, 1u, cb, acc1); }
  if (TM > 16u) { store_partials(split, m0, 2u, cb, acc2); }
  if (TM > 24u) { store_partials(split, m0, 3u, cb, acc3); }
  if (HAS_BIAS && cb < 8u) {
    store_bias_sums(split, m0, 0u, lane, gs0);
    if (TM > 8u) { store_bias_sums(split, m0, 1u, lane, gs1); }
    if (TM > 16u) { store_bias_sums(split, m0, 2u, lane, gs2); }
    if (TM > 24u) { store_bias_sums(split, m0, 3u, lane, gs3); }
  }
}

// Forward: wid.x + wid.z * groups.x = column tile (32·VPL voxels), wid.y = row tile.
// WGRAD: wid.x = column tile (8 k-blocks), wid.y = row tile, wid.z = split.
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32, @builtin(num_workgroups) groups: vec3u) {
  if (WGRAD) {
    weight_grad(wid.x * 8u + lane, wid.y * TM, wid.z, lane);
  } else {
    forward(wid.x + wid.z * groups.x, wid.y * TM, lane);
  }
}
