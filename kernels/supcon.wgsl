// Row epilogues of the supervised-contrastive loss (upstream loss_amos.py
// `ContrastiveLoss.contrastive_loss`, method-spec §7) over one block of rows of the Gram matrix
// sim = A_blk·Aᵀ, which the host computes with the register-blocked matmul: the M×M similarity
// matrix is never held whole (M = 7712 at the first stage: 238 MB). Anchors are sorted by label on
// the host, so the positives of row i are the columns [start_i, end_i) except i itself and the
// negatives are every column outside that range.
//
// With s_ij = sim_ij/τ and the shift c_i = s_ii = ‖a_i‖²/τ (the row max upstream subtracts, for
// unit or zero rows; the loss does not depend on it), u_ij = s_ij − c_i:
//   N_i = Σ_{k∈N(i)} exp(u_ik),  ℓ_i = −w_i Σ_{j∈P(i)} [u_ij − log(exp(u_ij) + N_i)],
//   R_i = Σ_{j∈P(i)} 1/(exp(u_ij) + N_i),  w_i = 1/(|P(i)| + 1e-5),
// and for L = (1/M)·Σ ℓ_i:  ∂L/∂s_ij = −w_i N_i/(exp(u_ij) + N_i) (j ∈ P(i)),  w_i R_i exp(u_ij)
// (j ∈ N(i)), all over M. With a_i = N_i·e^{c_i} and b_i = w_i R_i e^{−c_i} these are
// −w_i a_i/(e^{s_ij} + a_i) and b_i·e^{s_ij}: one exp per element serves both ∂s_ij and ∂s_ji
// (|s| ≤ 1/τ for unit rows; the host requires τ ≥ 1/60 so e^s stays finite).
//
// One workgroup = one 8-lane subgroup = one row; lanes stride over the row's vec4 and reduce with
// a fixed shuffle butterfly (deterministic, no barriers: on llvmpipe a barrier makes the shader a
// coroutine).
// MODE 0 (forward): pass 1 sums N_i over the negatives, pass 2 ℓ_i and R_i over the positive range;
//   stats [6, mp] = (N, R, w, ℓ, a, b); rows ≥ M get zeros.
// MODE 1 (VJP): coef_ij = (∂s_ij + ∂s_ji)·g/(M·τ) (0 on the diagonal and for padding), so that
//   ∂A_blk = coef·A is one more matmul.
enable subgroups;

struct Params {
  m: u32,          // anchors
  mp: u32,         // padded anchor count (a multiple of 8): row length of sim, shift, ranges, stats
  r0: u32,         // first (sorted) row of this block
  inv_tau: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sim: array<vec4f>;           // [rows, mp]
@group(0) @binding(2) var<storage, read> shift: array<f32>;           // [mp] c_i
@group(0) @binding(3) var<storage, read> ranges: array<u32>;          // [2, mp] start, end
@group(0) @binding(4) var<storage, read> upstream: array<f32>;        // MODE 1: [1] ∂loss
@group(0) @binding(5) var<storage, read_write> stats: array<vec4f>;   // [6, mp] N, R, w, ℓ, a, b
@group(0) @binding(6) var<storage, read_write> coef: array<vec4f>;    // MODE 1: [rows, mp]

override MODE: u32 = 0;

const LANES = 8u;

fn lane_sum(v: f32, lane: u32) -> f32 {
  var s = v + subgroupShuffle(v, lane ^ 4u);
  s += subgroupShuffle(s, lane ^ 2u);
  return s + subgroupShuffle(s, lane ^ 1u);
}

fn stat(k: u32, i: u32) -> f32 { let at = k * p.mp + i; return stats[at >> 2u][at & 3u]; }
fn set_stat(k: u32, i: u32, v: f32) { let at = k * p.mp + i; stats[at >> 2u][at & 3u] = v; }
fn columns(j4: u32) -> vec4u { return vec4u(4u * j4) + vec4u(0u, 1u, 2u, 3u); }

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x;
  let i = p.r0 + row;
  let groups4 = p.mp / 4u;
  let base = row * groups4;
  let start = ranges[i];
  let end = ranges[p.mp + i];
  let c = shift[i];

  if (MODE == 0u) {
    if (i >= p.m) {
      if (lane == 0u) { for (var k = 0u; k < 6u; k++) { set_stat(k, i, 0.0); } }
      return;
    }
    var negatives = 0.0;
    for (var j4 = lane; j4 < groups4; j4 += LANES) {
      let j = columns(j4);
      let neg = (j < vec4u(p.m)) & ((j < vec4u(start)) | (j >= vec4u(end)));
      negatives += dot(select(vec4f(0.0), exp(sim[base + j4] * p.inv_tau - c), neg), vec4f(1.0));
    }
    let n = lane_sum(negatives, lane);
    var terms = 0.0;
    var inverses = 0.0;
    for (var j4 = start / 4u + lane; j4 < (end + 3u) / 4u; j4 += LANES) {
      let j = columns(j4);
      let pos = (j >= vec4u(start)) & (j < vec4u(end)) & (j != vec4u(i));
      let u = sim[base + j4] * p.inv_tau - c;
      let den = max(exp(u) + n, vec4f(1e-30));
      // Without negatives every term is u − log(exp(u)) = 0.
      let t = select(u - log(den), vec4f(0.0), vec4<bool>(n == 0.0));
      terms += dot(select(vec4f(0.0), t, pos), vec4f(1.0));
      inverses += dot(select(vec4f(0.0), 1.0 / den, pos), vec4f(1.0));
    }
    let term = lane_sum(terms, lane);
    let inverse = lane_sum(inverses, lane);
    if (lane == 0u) {
      let w = 1.0 / (f32(end - start - 1u) + 1e-5);
      set_stat(0u, i, n);
      set_stat(1u, i, inverse);
      set_stat(2u, i, w);
      set_stat(3u, i, -w * term);
      set_stat(4u, i, n * exp(c));
      set_stat(5u, i, w * inverse * exp(-c));
    }
    return;
  }

  // MODE 1: coefficients of this row.
  let scale = upstream[0] * p.inv_tau / f32(p.m);
  let a_i = stat(4u, i);
  let w_i = stat(2u, i);
  let b_i = stat(5u, i);
  let live = i < p.m;
  for (var j4 = lane; j4 < groups4; j4 += LANES) {
    let j = columns(j4);
    let es = exp(sim[base + j4] * p.inv_tau);
    let a_j = stats[4u * groups4 + j4];
    let w_j = stats[2u * groups4 + j4];
    let b_j = stats[5u * groups4 + j4];
    let positive = -w_i * a_i / (es + a_i) - w_j * a_j / (es + a_j);
    let negative = (b_i + b_j) * es;
    let pos = (j >= vec4u(start)) & (j < vec4u(end));
    let keep = (j < vec4u(p.m)) & (j != vec4u(i)) & vec4<bool>(live);
    coef[base + j4] = select(vec4f(0.0), select(negative, positive, pos), keep) * scale;
  }
}
