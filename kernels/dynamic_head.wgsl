// TAK's text-driven dynamic segmentation head (method-spec §6, Universal Model `heads_forward`):
// for image b and class k, parameters θ[b, k] (153 = W1 64, W2 64, W3 8, b1 8, b2 8, b3 1; W1, W2
// as (out 8, in 8) row-major, W3 as (1, 8)) map the 8 features h[b, :, v] of every voxel to
//   z[b, k, v] = W3·ReLU(W2·ReLU(W1·h + b1) + b2) + b3.
//
// Shape of the kernel (see docs/kernels-lavapipe.md: on llvmpipe every storage load is a per-lane
// loop of ~200 instructions even when all lanes read the same address, while subgroupShuffle is one
// vpermd): a workgroup is one subgroup of 8 lanes; θ[b, k], padded by the host to 40 vec4
// (W1 0–15, W2 16–31, W3 32–33, b1 34–35, b2 36–37, b3 38.x), is loaded as 5 vec4 per lane
// (lane l holds vec4 l, 8 + l, ..., 32 + l) and every lane gets each weight by subgroupShuffle with
// a constant lane. A lane owns VEC (4, or 1 for odd sizes) neighbouring voxels as vec4 math.
// The hidden activations are recomputed in the backward passes instead of stored: storing them
// would take [B, K, 16, D, H, W] = 1.8 GB at B = 2, K = 16, 96³.
//
// MODE 0  forward: y = z [B, K, S]; a lane loads its h once and loops over the K classes.
// MODE 1  ∂h: y [B, 8, S] = Σ_k W1ᵀ·(ReLU'·W2ᵀ·(ReLU'·W3ᵀ·g_z)), g_z = gz [B, K, S].
// MODE 2  ∂θ, first stage: workgroup (block, k, b) sums the per-voxel products over its 8·G voxel
//         groups, per lane in registers, then across the lanes by a fixed shuffle butterfly, into
//         y [B, K, blocks, 40 vec4] (θ's padded layout); the host sums over blocks. Deterministic.
enable subgroups;

struct Params {
  k: u32,          // classes K
  s: u32,          // voxels per image
  groups: u32,     // voxel groups per image: s / VEC
  blocks: u32,     // MODE 2: workgroups per (b, k)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> h: array<vec4f>;        // [B, 8, S]
@group(0) @binding(2) var<storage, read> theta: array<vec4f>;    // [B, K, 40] (padded θ)
@group(0) @binding(3) var<storage, read> gz: array<vec4f>;       // [B, K, S] (MODE 1, 2)
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

override MODE: u32 = 0;
override VEC: u32 = 4;
override G: u32 = 32;          // MODE 2: voxel groups per lane

const LANES = 8u;
const PADDED = 40u;            // vec4 per head

alias F8 = array<vec4f, 8>;    // 8 channels, each a vec4 over the lane's voxels

// This lane's fifth of θ[b, k]: vec4 j·8 + lane in slot j.
struct Head {
  s0: vec4f,
  s1: vec4f,
  s2: vec4f,
  s3: vec4f,
  s4: vec4f,
}

fn load_head(t4: u32, lane: u32) -> Head {
  return Head(theta[t4 + lane], theta[t4 + 8u + lane], theta[t4 + 16u + lane], theta[t4 + 24u + lane], theta[t4 + 32u + lane]);
}

// Element `at` of a [.., S] map as VEC voxels (zeros past the first when VEC = 1).
fn ld_h(at: u32) -> vec4f {
  if (VEC == 4u) { return h[at >> 2u]; }
  return vec4f(h[at >> 2u][at & 3u], 0.0, 0.0, 0.0);
}
fn ld_gz(at: u32) -> vec4f {
  if (VEC == 4u) { return gz[at >> 2u]; }
  return vec4f(gz[at >> 2u][at & 3u], 0.0, 0.0, 0.0);
}
fn st(at: u32, v: vec4f) {
  if (VEC == 4u) { y[at >> 2u] = v; } else { y[at >> 2u][at & 3u] = v.x; }
}

fn features(b: u32, v: u32) -> F8 {
  var x: F8;
  for (var c = 0u; c < 8u; c++) { x[c] = ld_h((b * 8u + c) * p.s + v); }
  return x;
}

// Row o of an 8×8 W is the vec4 pair at lanes 2o, 2o+1 (mod 8) of `lo_rows` (rows 0–3) or
// `hi_rows` (rows 4–7). The helpers below are written out row by row, without loops: Mesa unrolls
// a loop only when trip count × body ≤ 32 × 26 NIR instructions, and a loop left rolled would move
// the F8 arrays to scratch memory (a per-lane gather for every access).
fn row_dot(w0: vec4f, w1: vec4f, bias: f32, x: F8) -> vec4f {
  return bias + w0.x * x[0] + w0.y * x[1] + w0.z * x[2] + w0.w * x[3] + w1.x * x[4] + w1.y * x[5] + w1.z * x[6] + w1.w * x[7];
}

// W·x + (b_lo, b_hi).
fn affine8(lo_rows: vec4f, hi_rows: vec4f, b_lo: vec4f, b_hi: vec4f, x: F8) -> F8 {
  return F8(
    row_dot(subgroupShuffle(lo_rows, 0u), subgroupShuffle(lo_rows, 1u), b_lo.x, x),
    row_dot(subgroupShuffle(lo_rows, 2u), subgroupShuffle(lo_rows, 3u), b_lo.y, x),
    row_dot(subgroupShuffle(lo_rows, 4u), subgroupShuffle(lo_rows, 5u), b_lo.z, x),
    row_dot(subgroupShuffle(lo_rows, 6u), subgroupShuffle(lo_rows, 7u), b_lo.w, x),
    row_dot(subgroupShuffle(hi_rows, 0u), subgroupShuffle(hi_rows, 1u), b_hi.x, x),
    row_dot(subgroupShuffle(hi_rows, 2u), subgroupShuffle(hi_rows, 3u), b_hi.y, x),
    row_dot(subgroupShuffle(hi_rows, 4u), subgroupShuffle(hi_rows, 5u), b_hi.z, x),
    row_dot(subgroupShuffle(hi_rows, 6u), subgroupShuffle(hi_rows, 7u), b_hi.w, x),
  );
}

// acc + g·(row w0, w1)ᵀ.
fn add_row(acc: F8, w0: vec4f, w1: vec4f, g: vec4f) -> F8 {
  return F8(acc[0] + w0.x * g, acc[1] + w0.y * g, acc[2] + w0.z * g, acc[3] + w0.w * g,
            acc[4] + w1.x * g, acc[5] + w1.y * g, acc[6] + w1.z * g, acc[7] + w1.w * g);
}

// Wᵀ·g.
fn transposed8(lo_rows: vec4f, hi_rows: vec4f, g: F8) -> F8 {
  var out = add_row(F8(), subgroupShuffle(lo_rows, 0u), subgroupShuffle(lo_rows, 1u), g[0]);
  out = add_row(out, subgroupShuffle(lo_rows, 2u), subgroupShuffle(lo_rows, 3u), g[1]);
  out = add_row(out, subgroupShuffle(lo_rows, 4u), subgroupShuffle(lo_rows, 5u), g[2]);
  out = add_row(out, subgroupShuffle(lo_rows, 6u), subgroupShuffle(lo_rows, 7u), g[3]);
  out = add_row(out, subgroupShuffle(hi_rows, 0u), subgroupShuffle(hi_rows, 1u), g[4]);
  out = add_row(out, subgroupShuffle(hi_rows, 2u), subgroupShuffle(hi_rows, 3u), g[5]);
  out = add_row(out, subgroupShuffle(hi_rows, 4u), subgroupShuffle(hi_rows, 5u), g[6]);
  return add_row(out, subgroupShuffle(hi_rows, 6u), subgroupShuffle(hi_rows, 7u), g[7]);
}

fn relu8(x: F8) -> F8 {
  var out: F8;
  for (var i = 0u; i < 8u; i++) { out[i] = max(x[i], vec4f(0.0)); }
  return out;
}

// g where x > 0, else 0 (ReLU's derivative applied to g).
fn gate8(x: F8, g: F8) -> F8 {
  var out: F8;
  for (var i = 0u; i < 8u; i++) { out[i] = select(vec4f(0.0), g[i], x[i] > vec4f(0.0)); }
  return out;
}

// Pre-activations only: ReLU(pre) is recomputed where needed (fewer live values, fewer spills).
struct Hidden {
  pre1: F8,
  pre2: F8,
}

fn hidden(t: Head, x: F8) -> Hidden {
  let pre1 = affine8(t.s0, t.s1, subgroupShuffle(t.s4, 2u), subgroupShuffle(t.s4, 3u), x);
  return Hidden(pre1, affine8(t.s2, t.s3, subgroupShuffle(t.s4, 4u), subgroupShuffle(t.s4, 5u), relu8(pre1)));
}

fn output(t: Head, r: Hidden) -> vec4f {
  return row_dot(subgroupShuffle(t.s4, 0u), subgroupShuffle(t.s4, 1u), subgroupShuffle(t.s4, 6u).x, relu8(r.pre2));
}

// ∂z/∂pre2 and ∂z/∂pre1, times g.
struct Grads {
  g2: F8,
  g1: F8,
}

fn backward(t: Head, r: Hidden, g: vec4f) -> Grads {
  let w_lo = subgroupShuffle(t.s4, 0u);
  let w_hi = subgroupShuffle(t.s4, 1u);
  var w3: F8;
  for (var o = 0u; o < 4u; o++) {
    w3[o] = g * w_lo[o];
    w3[o + 4u] = g * w_hi[o];
  }
  var out: Grads;
  out.g2 = gate8(r.pre2, w3);
  out.g1 = gate8(r.pre1, transposed8(t.s2, t.s3, out.g2));
  return out;
}

fn total(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// (Σ a·x[0], Σ a·x[1], Σ a·x[2], Σ a·x[3]) over the lane's voxels, and the same for x[4..7].
fn outer_lo(a: vec4f, x: F8) -> vec4f { return vec4f(total(a * x[0]), total(a * x[1]), total(a * x[2]), total(a * x[3])); }
fn outer_hi(a: vec4f, x: F8) -> vec4f { return vec4f(total(a * x[4]), total(a * x[5]), total(a * x[6]), total(a * x[7])); }
fn totals_lo(x: F8) -> vec4f { return vec4f(total(x[0]), total(x[1]), total(x[2]), total(x[3])); }
fn totals_hi(x: F8) -> vec4f { return vec4f(total(x[4]), total(x[5]), total(x[6]), total(x[7])); }

// Sum over the 8 lanes in a fixed order (every lane gets the total).
fn lane_sum(v: vec4f, lane: u32) -> vec4f {
  var s = v + subgroupShuffle(v, lane ^ 4u);
  s += subgroupShuffle(s, lane ^ 2u);
  return s + subgroupShuffle(s, lane ^ 1u);
}

alias Acc = array<vec4f, 40>;

// Loops are split so that each one unrolls (Mesa: trip count × body ≤ 32 × 26 NIR instructions);
// an access with a non-constant index would move the whole accumulator array to scratch memory.
fn accumulate(acc: ptr<function, Acc>, x: F8, g: vec4f, r: Hidden, d: Grads) {
  let h1 = relu8(r.pre1);
  let h2 = relu8(r.pre2);
  for (var o = 0u; o < 8u; o++) { (*acc)[2u * o] += outer_lo(d.g1[o], x); }
  for (var o = 0u; o < 8u; o++) { (*acc)[2u * o + 1u] += outer_hi(d.g1[o], x); }
  for (var o = 0u; o < 8u; o++) { (*acc)[16u + 2u * o] += outer_lo(d.g2[o], h1); }
  for (var o = 0u; o < 8u; o++) { (*acc)[17u + 2u * o] += outer_hi(d.g2[o], h1); }
  (*acc)[32] += outer_lo(g, h2);
  (*acc)[33] += outer_hi(g, h2);
  (*acc)[34] += totals_lo(d.g1);
  (*acc)[35] += totals_hi(d.g1);
  (*acc)[36] += totals_lo(d.g2);
  (*acc)[37] += totals_hi(d.g2);
  (*acc)[38] += vec4f(total(g), 0.0, 0.0, 0.0);
}

// Lane 0 writes the lane sums of acc[first .. first + 7].
fn write_sums(acc: ptr<function, Acc>, first: u32, out: u32, lane: u32) {
  for (var q = 0u; q < 8u; q++) {
    let s = lane_sum((*acc)[first + q], lane);
    if (lane == 0u) { y[out + first + q] = s; }
  }
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  if (MODE == 2u) {
    let k = wid.y;
    let b = wid.z;
    let head = load_head((b * p.k + k) * PADDED, lane);
    var acc: Acc;
    for (var n = 0u; n < G; n++) {
      let group = (wid.x * G + n) * LANES + lane;
      let v = min(group, p.groups - 1u) * VEC;
      let x = features(b, v);
      // Lanes past the end contribute nothing: every product below carries g.
      let g = select(vec4f(0.0), ld_gz((b * p.k + k) * p.s + v), group < p.groups);
      let r = hidden(head, x);
      accumulate(&acc, x, g, r, backward(head, r, g));
    }
    let out = ((b * p.k + k) * p.blocks + wid.x) * PADDED;
    write_sums(&acc, 0u, out, lane);
    write_sums(&acc, 8u, out, lane);
    write_sums(&acc, 16u, out, lane);
    write_sums(&acc, 24u, out, lane);
    write_sums(&acc, 32u, out, lane);
    return;
  }

  let b = wid.y;
  let group = wid.x * LANES + lane;
  let valid = group < p.groups;
  let v = min(group, p.groups - 1u) * VEC;    // every lane stays active for the shuffles
  let x = features(b, v);
  if (MODE == 0u) {
    for (var k = 0u; k < p.k; k++) {
      let head = load_head((b * p.k + k) * PADDED, lane);
      let z = output(head, hidden(head, x));
      if (valid) { st((b * p.k + k) * p.s + v, z); }
    }
    return;
  }
  // MODE 1
  var gx: F8;
  for (var k = 0u; k < p.k; k++) {
    let head = load_head((b * p.k + k) * PADDED, lane);
    let d = backward(head, hidden(head, x), ld_gz((b * p.k + k) * p.s + v));
    let back = transposed8(head.s0, head.s1, d.g1);
    for (var c = 0u; c < 8u; c++) { gx[c] += back[c]; }
  }
  if (valid) {
    for (var c = 0u; c < 8u; c++) { st((b * 8u + c) * p.s + v, gx[c]); }
  }
}
