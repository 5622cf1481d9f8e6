// Supervised-contrastive loss of upstream loss_amos.py `ContrastiveLoss.contrastive_loss`
// (method-spec §7) without materialising the M×M similarity matrix (M = 7712 anchors at the first
// stage: 238 MB). Anchors are sorted by label on the host, so the positives of row i are the
// contiguous columns [start_i, end_i) minus i itself; negatives are all other columns.
//
// With s_ij = a_i·a_j/τ and the shift c_i = s_ii = ‖a_i‖²/τ (the row max upstream subtracts, for
// unit or zero rows; the loss does not depend on it), u_ij = s_ij − c_i:
//   N_i  = Σ_{k∈N(i)} exp(u_ik)
//   ℓ_i  = −w_i Σ_{j∈P(i)} [u_ij − log(exp(u_ij) + N_i)],     w_i = 1/(|P(i)| + 1e-5)
//   R_i  = Σ_{j∈P(i)} 1/(exp(u_ij) + N_i)
// and the gradient of L = (1/M)·Σ ℓ_i with respect to s is
//   ∂L/∂s_ij = −w_i N_i/(exp(u_ij) + N_i)   (j ∈ P(i)),     w_i·exp(u_ij)·R_i   (j ∈ N(i)),
// so ∂L/∂a_i = (1/(Mτ))·Σ_j (∂s_ij + ∂s_ji)·a_j (s is symmetric).
//
// MODE 0 (forward): a workgroup owns ROWS consecutive (sorted) anchors; its lanes sweep the columns
//   4 at a time (vec4 loads from the transposed copy, contiguous across lanes; the rows' values are
//   the same for every lane: broadcast loads). Pass 1 over all columns sums N_i, pass 2 over the
//   positive range sums ℓ_i and R_i. Lane partials are reduced in workgroup memory in lane order.
//   stats [4, mp] = (N, R, w, ℓ); rows ≥ M get zeros.
// MODE 1 (VJP): per tile of 4·WG columns the lanes compute ∂s_ij + ∂s_ji for the workgroup's rows
//   into workgroup memory, then switch roles (lane ↔ (row, 4 features)) and accumulate
//   Σ_j coef_ij·a_j. grad [M, dp] is written in the anchors' original row order.

struct Params {
  m: u32,          // anchors
  mp: u32,         // padded anchor count (a multiple of 8): row length of cols, shift, anchor_info, stats
  dp: u32,         // padded feature size (a multiple of 4): row length of rows
  inv_tau: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<vec4f>;          // [mp, dp], sorted by label
@group(0) @binding(2) var<storage, read> cols: array<vec4f>;          // [dp, mp], the transpose
@group(0) @binding(3) var<storage, read> shift: array<vec4f>;         // [mp] c_i
@group(0) @binding(4) var<storage, read> anchor_info: array<vec4i>;          // [4, mp] label, start, end, original row
@group(0) @binding(5) var<storage, read> upstream: array<f32>;        // MODE 1: [1] ∂loss
@group(0) @binding(6) var<storage, read_write> stats: array<vec4f>;   // [4, mp] N, R, w, ℓ
@group(0) @binding(7) var<storage, read_write> grad: array<vec4f>;    // MODE 1: [m, dp]

override MODE: u32 = 0;
override WG: u32 = 64;
override ROWS: u32 = 8;

const MAX_ROWS = 8u;
const MAX_PAIRS = 8u;

var<workgroup> lane_part: array<f32, WG * ROWS * 2u>;
var<workgroup> row_negatives: array<f32, ROWS>;
var<workgroup> coef: array<vec4f, WG * ROWS>;

fn shift_at(i: u32) -> f32 { return shift[i >> 2u][i & 3u]; }
fn meta_at(k: u32, i: u32) -> i32 { let at = k * p.mp + i; return anchor_info[at >> 2u][at & 3u]; }
fn stat_at(k: u32, i: u32) -> f32 { let at = k * p.mp + i; return stats[at >> 2u][at & 3u]; }

// s_ij = a_i·a_j/τ for the workgroup's rows r0.. and columns 4·j4 .. 4·j4 + 3.
fn similarities(r0: u32, j4: u32) -> array<vec4f, MAX_ROWS> {
  var acc: array<vec4f, MAX_ROWS>;
  let groups = p.mp / 4u;
  for (var d = 0u; d < p.dp; d += 4u) {
    let c0 = cols[d * groups + j4];
    let c1 = cols[(d + 1u) * groups + j4];
    let c2 = cols[(d + 2u) * groups + j4];
    let c3 = cols[(d + 3u) * groups + j4];
    for (var r = 0u; r < ROWS; r++) {
      let a = rows[((r0 + r) * p.dp + d) >> 2u];
      acc[r] += c0 * a.x + c1 * a.y + c2 * a.z + c3 * a.w;
    }
  }
  for (var r = 0u; r < ROWS; r++) { acc[r] *= p.inv_tau; }
  return acc;
}

fn column_indices(j4: u32) -> vec4u { return vec4u(4u * j4) + vec4u(0u, 1u, 2u, 3u); }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) groups: vec3u) {
  let r0 = (wid.x + wid.y * groups.x) * ROWS;
  let groups4 = p.mp / 4u;
  // The rows' labels, positive ranges and shifts (the same for every lane).
  var label: array<i32, MAX_ROWS>;
  var start: array<u32, MAX_ROWS>;
  var end: array<u32, MAX_ROWS>;
  var c: array<f32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    label[r] = meta_at(0u, r0 + r);
    start[r] = u32(meta_at(1u, r0 + r));
    end[r] = u32(meta_at(2u, r0 + r));
    c[r] = shift_at(r0 + r);
  }

  if (MODE == 0u) {
    // Pass 1: N_i over the negatives.
    var negatives: array<f32, MAX_ROWS>;
    for (var j4 = lid; j4 < groups4; j4 += WG) {
      let s = similarities(r0, j4);
      let j = column_indices(j4);
      let labels = anchor_info[j4];
      for (var r = 0u; r < ROWS; r++) {
        let neg = (j < vec4u(p.m)) & (labels != vec4i(label[r]));
        negatives[r] += dot(select(vec4f(0.0), exp(s[r] - c[r]), neg), vec4f(1.0));
      }
    }
    for (var r = 0u; r < ROWS; r++) { lane_part[r * WG + lid] = negatives[r]; }
    workgroupBarrier();
    if (lid < ROWS) {
      var total = 0.0;
      for (var l = 0u; l < WG; l++) { total += lane_part[lid * WG + l]; }
      row_negatives[lid] = total;
    }
    workgroupBarrier();

    // Pass 2: the positives of these rows lie in [start of the first row, end of the last row).
    var terms: array<f32, MAX_ROWS>;
    var inverses: array<f32, MAX_ROWS>;
    let last = min(r0 + ROWS, p.m);
    if (r0 < p.m) {
      let lo4 = start[0] / 4u;
      let hi4 = (end[last - 1u - r0] + 3u) / 4u;
      for (var j4 = lo4 + lid; j4 < hi4; j4 += WG) {
        let s = similarities(r0, j4);
        let j = column_indices(j4);
        for (var r = 0u; r < ROWS; r++) {
          let n = row_negatives[r];
          let pos = (j >= vec4u(start[r])) & (j < vec4u(end[r])) & (j != vec4u(r0 + r));
          let u = s[r] - c[r];
          let den = max(exp(u) + n, vec4f(1e-30));
          let t = select(u - log(den), vec4f(0.0), vec4<bool>(n == 0.0));
          terms[r] += dot(select(vec4f(0.0), t, pos), vec4f(1.0));
          inverses[r] += dot(select(vec4f(0.0), 1.0 / den, pos), vec4f(1.0));
        }
      }
    }
    workgroupBarrier();
    for (var r = 0u; r < ROWS; r++) {
      lane_part[(2u * r) * WG + lid] = terms[r];
      lane_part[(2u * r + 1u) * WG + lid] = inverses[r];
    }
    workgroupBarrier();
    if (lid < ROWS) {
      let i = r0 + lid;
      var term = 0.0;
      var inverse = 0.0;
      for (var l = 0u; l < WG; l++) {
        term += lane_part[(2u * lid) * WG + l];
        inverse += lane_part[(2u * lid + 1u) * WG + l];
      }
      var w = 0.0;
      if (i < p.m) { w = 1.0 / (f32(end[lid] - start[lid] - 1u) + 1e-5); }
      let valid = select(0.0, 1.0, i < p.m);
      stats[i >> 2u][i & 3u] = row_negatives[lid] * valid;
      stats[(p.mp + i) >> 2u][i & 3u] = inverse * valid;
      stats[(2u * p.mp + i) >> 2u][i & 3u] = w;
      stats[(3u * p.mp + i) >> 2u][i & 3u] = -w * term;
    }
    return;
  }

  // MODE 1: gradient rows of this workgroup.
  var n: array<f32, MAX_ROWS>;
  var inv: array<f32, MAX_ROWS>;
  var w: array<f32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    n[r] = stat_at(0u, r0 + r);
    inv[r] = stat_at(1u, r0 + r);
    w[r] = stat_at(2u, r0 + r);
  }
  let d4s = p.dp / 4u;
  let pairs = ROWS * d4s;
  var acc: array<vec4f, MAX_PAIRS>;
  let tile = 4u * WG;
  for (var t4 = 0u; t4 < groups4; t4 += WG) {
    let j4 = t4 + lid;
    if (j4 < groups4) {
      let s = similarities(r0, j4);
      let j = column_indices(j4);
      let col_label = anchor_info[j4];
      let col_c = shift[j4];
      let col_n = stats[j4];
      let col_inv = stats[groups4 + j4];
      let col_w = stats[2u * groups4 + j4];
      for (var r = 0u; r < ROWS; r++) {
        let e_ij = exp(s[r] - c[r]);
        let e_ji = exp(s[r] - col_c);
        let positive = -w[r] * n[r] / max(e_ij + n[r], vec4f(1e-30)) - col_w * col_n / max(e_ji + col_n, vec4f(1e-30));
        let negative = w[r] * e_ij * inv[r] + col_w * e_ji * col_inv;
        let keep = (j < vec4u(p.m)) & (j != vec4u(r0 + r)) & vec4<bool>(r0 + r < p.m);
        coef[r * WG + lid] = select(vec4f(0.0), select(negative, positive, col_label == vec4i(label[r])), keep);
      }
    } else {
      for (var r = 0u; r < ROWS; r++) { coef[r * WG + lid] = vec4f(0.0); }
    }
    workgroupBarrier();
    let count = min(tile, p.mp - 4u * t4);
    for (var k = 0u; k < MAX_PAIRS; k++) {
      let q = lid + k * WG;
      if (q < pairs) {
        let r = q / d4s;
        let d4 = q - r * d4s;
        var sum = acc[k];
        for (var jj = 0u; jj < count; jj++) {
          sum += coef[r * WG + (jj >> 2u)][jj & 3u] * rows[(4u * t4 + jj) * d4s + d4];
        }
        acc[k] = sum;
      }
    }
    workgroupBarrier();
  }
  let scale = upstream[0] * p.inv_tau / f32(p.m);
  for (var k = 0u; k < MAX_PAIRS; k++) {
    let q = lid + k * WG;
    if (q < pairs) {
      let r = q / d4s;
      let i = r0 + r;
      if (i < p.m) { grad[u32(meta_at(3u, i)) * d4s + q - r * d4s] = acc[k] * scale; }
    }
  }
}
