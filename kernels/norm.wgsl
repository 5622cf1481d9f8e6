// Normalisation family (instance, group, batch norm) over x viewed as rows of length r (a row is
// one (n, c) plane of an NC... tensor). Work is split into chunks of a row, one workgroup (one
// 8-lane subgroup) per chunk, so a 96³ plane is reduced by hundreds of workgroups, never by one
// thread per channel. Modes (override MODE):
//   0 STATS   partial[row, chunk] = (Σ (x − K), Σ (x − K)², K if chunk 0 else 0, 0) with the row
//             shift K = x[row, 0] (shifted sums keep fp32 variance accurate; the host sums the
//             chunks in order).
//   1 COMBINE per group g: Chan's parallel combination of its rows' (count, mean, M2), read from
//             the summed partials, → (mean, biased var). Group g holds rows g·group_step + j·row_step, j < rows_per_group
//             (instance: 1 row; group norm: C/G consecutive rows; batch norm: rows c + j·C).
//   2 APPLY   y = (x − μ)·a + b (+ ReLU) with coefficients c[row'] = (μ, a, b, 0),
//             row' = row % coef_rows. Centring first keeps fp32 exact where x·a + (b − μ·a)
//             would cancel (data far from zero).
//   3 SUMS    partial[row, chunk] = (Σ g, Σ g·x̂, 0, 0) with x̂ = (x − μ)·rstd, c = (μ, rstd, ·, ·)
//             and g = dy (· [y > 0] when RELU).
//   4 GRAD    dx = p·g + q·(x − μ) + s with c = (μ, p, q, s).
// Rows are dispatched along y (+ z·65535 for many rows), chunks along x: no per-element division.
// Tensors over the binding limit are dispatched in runs of rows; row_offset is the run's first row
// (coefficients and partials are indexed by the global row).
enable subgroups;

struct Params {
  rows: u32,
  r: u32,              // row length
  chunk: u32,          // elements per workgroup (multiple of 32)
  chunks: u32,         // chunks per row
  coef_rows: u32,
  groups: u32,
  rows_per_group: u32,
  group_step: u32,
  row_step: u32,
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;   // x (STATS, COMBINE, APPLY) or dy
@group(0) @binding(2) var<storage, read> x1: array<f32>;     // the same buffer as x4
@group(0) @binding(3) var<storage, read> u4: array<vec4f>;   // x (SUMS, GRAD); summed partials (COMBINE)
@group(0) @binding(4) var<storage, read> u1: array<f32>;     // the same buffer as u4
@group(0) @binding(5) var<storage, read> m4: array<vec4f>;   // y, for the ReLU mask of g
@group(0) @binding(6) var<storage, read> m1: array<f32>;     // the same buffer as m4
@group(0) @binding(7) var<storage, read> c: array<vec4f>;    // per-row' coefficients
@group(0) @binding(8) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> out1: array<f32>; // the same buffer as out4, or a dummy

override MODE: u32 = 0;
override VEC: bool = true;        // r % 4 == 0: vec4 loads and stores
override RELU: bool = false;

fn coef(row: u32) -> vec4f {
  return c[(row + p.row_offset) % p.coef_rows];
}

// g at element e (dy, masked by y > 0 after a fused ReLU).
fn grad4(e4: u32) -> vec4f {
  if (RELU) { return select(vec4f(0.0), x4[e4], m4[e4] > vec4f(0.0)); }
  return x4[e4];
}
fn grad1(e: u32) -> f32 {
  if (RELU) { return select(0.0, x1[e], m1[e] > 0.0); }
  return x1[e];
}

// Σ over this lane's elements of one chunk of `row` of (f0, f1), reduced over the subgroup.
fn chunk_sums(row: u32, chunk: u32, lane: u32) -> vec2f {
  let start = chunk * p.chunk;
  let end = min(start + p.chunk, p.r);
  let base = row * p.r;
  var s = vec2f(0.0);
  if (MODE == 0u) {
    let k = x1[base];
    if (VEC) {
      var s1 = vec4f(0.0);
      var s2 = vec4f(0.0);
      for (var i = start + 4u * lane; i < end; i += 32u) {
        let d = x4[(base + i) / 4u] - vec4f(k);
        s1 += d;
        s2 += d * d;
      }
      s = vec2f(dot(s1, vec4f(1.0)), dot(s2, vec4f(1.0)));
    } else {
      for (var i = start + lane; i < end; i += 8u) {
        let d = x1[base + i] - k;
        s += vec2f(d, d * d);
      }
    }
  } else {
    let k = coef(row);
    let mean = k.x;
    let rstd = k.y;
    if (VEC) {
      var s1 = vec4f(0.0);
      var s2 = vec4f(0.0);
      for (var i = start + 4u * lane; i < end; i += 32u) {
        let e4 = (base + i) / 4u;
        let g = grad4(e4);
        s1 += g;
        s2 += g * (u4[e4] - vec4f(mean)) * rstd;
      }
      s = vec2f(dot(s1, vec4f(1.0)), dot(s2, vec4f(1.0)));
    } else {
      for (var i = start + lane; i < end; i += 8u) {
        let g = grad1(base + i);
        s += vec2f(g, g * (u1[base + i] - mean) * rstd);
      }
    }
  }
  return subgroupAdd(s);
}

// Chan et al.: combine the (count, mean, M2) of a group's rows.
fn combine(g: u32) {
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  let rn = f32(p.r);
  for (var j = 0u; j < p.rows_per_group; j++) {
    let row = g * p.group_step + j * p.row_step;
    let s1 = u1[4u * row];
    let s2 = u1[4u * row + 1u];
    let row_mean = u1[4u * row + 2u] + s1 / rn;
    let row_m2 = max(s2 - s1 * s1 / rn, 0.0);
    let total = n + rn;
    let delta = row_mean - mean;
    mean += delta * rn / total;
    m2 += row_m2 + delta * delta * n * rn / total;
    n = total;
  }
  out1[2u * g] = mean;
  out1[2u * g + 1u] = m2 / n;
}

fn elementwise(row: u32, chunk: u32, lane: u32) {
  let start = chunk * p.chunk;
  let end = min(start + p.chunk, p.r);
  let base = row * p.r;
  let k = coef(row);
  if (VEC) {
    for (var i = start + 4u * lane; i < end; i += 32u) {
      let e4 = (base + i) / 4u;
      var v: vec4f;
      if (MODE == 2u) {
        v = (x4[e4] - k.x) * k.y + k.z;
        if (RELU) { v = max(v, vec4f(0.0)); }
      } else {
        v = grad4(e4) * k.y + (u4[e4] - k.x) * k.z + k.w;
      }
      out4[e4] = v;
    }
  } else {
    for (var i = start + lane; i < end; i += 8u) {
      var v: f32;
      if (MODE == 2u) {
        v = (x1[base + i] - k.x) * k.y + k.z;
        if (RELU) { v = max(v, 0.0); }
      } else {
        v = grad1(base + i) * k.y + (u1[base + i] - k.x) * k.z + k.w;
      }
      out1[base + i] = v;
    }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  if (MODE == 1u) {
    let g = (wid.x + wid.y * 65535u) * 8u + lane;
    if (g < p.groups) { combine(g); }
    return;
  }
  let row = wid.y + wid.z * 65535u;
  if (row >= p.rows) { return; }
  if (MODE == 0u || MODE == 3u) {
    let s = chunk_sums(row, wid.x, lane);
    if (lane == 0u) {
      let at = 4u * ((row + p.row_offset) * p.chunks + wid.x);
      out1[at] = s.x;
      out1[at + 1u] = s.y;
      out1[at + 2u] = select(0.0, x1[row * p.r], MODE == 0u && wid.x == 0u);
      out1[at + 3u] = 0.0;
    }
  } else {
    elementwise(row, wid.x, lane);
  }
}
