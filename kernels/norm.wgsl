// Normalisation family (instance, group, batch norm) over x viewed as rows of length r (a row is
// one (n, c) plane of an NC... tensor). Work is split into chunks of a row, one workgroup (one
// 8-lane subgroup) per chunk, so a 96³ plane is reduced by hundreds of workgroups, never by one
// thread per channel. Modes (override MODE):
//   0 STATS   partial[row, chunk] = (Σ (x − K), Σ (x − K)², K if chunk 0 else 0, 0) with the row
//             shift K = x[row, 0] (shifted sums keep fp32 variance accurate; kernels/norm_coef.wgsl
//             sums the chunks in order).
//   (kernels/norm_coef.wgsl turns the chunk-summed partials into the coefficients.)
//   2 APPLY   y = (x − μ)·a + b (+ ReLU) (+ u with RESIDUAL) with coefficients c[row'] = (μ, a,
//             b, ·), row' = row % coef_rows. Centring first keeps fp32 exact where x·a + (b − μ·a)
//             would cancel (data far from zero). RESIDUAL adds u after the ReLU: V-Net's decoder
//             skip connection, in this pass instead of an add pass of its own.
//   3 SUMS    partial[row, chunk] = (Σ g, Σ g·x̂, 0, 0) with x̂ = (x − μ)·rstd, c = (μ, a, b, rstd)
//             (the forward coefficients)
//             and g = dy (· [y > 0] when RELU).
//   4 GRAD    dx = p·g + q·(x − μ) + s with c = (μ, p, q, s); f = the forward coefficients.
// The ReLU mask y > 0 is recomputed as (x − μ)·a + b > 0 from x and the forward coefficients (the
// expression APPLY evaluated): the backward reads dy and x, not y as well — a third fewer reads
// for SUMS, a quarter for GRAD.
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
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;   // x (STATS, APPLY) or dy
@group(0) @binding(2) var<storage, read> x1: array<f32>;     // the same buffer as x4
@group(0) @binding(3) var<storage, read> u4: array<vec4f>;   // x (SUMS, GRAD), the residual (APPLY)
@group(0) @binding(4) var<storage, read> u1: array<f32>;     // the same buffer as u4
@group(0) @binding(5) var<storage, read> c: array<vec4f>;    // per-row' coefficients
@group(0) @binding(6) var<storage, read> f: array<vec4f>;    // GRAD with RELU: forward coefficients
@group(0) @binding(7) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> out1: array<f32>; // the same buffer as out4, or a dummy

override MODE: u32 = 0;
override VEC: bool = true;        // r % 4 == 0: vec4 loads and stores
override RELU: bool = false;
override RESIDUAL: bool = false;  // APPLY: + u

fn coef(row: u32) -> vec4f {
  return c[(row + p.row_offset) % p.coef_rows];
}

// GRAD with RELU: the forward coefficients of `row` (SUMS has them in c already).
fn forward_coef(row: u32) -> vec4f {
  return f[(row + p.row_offset) % p.coef_rows];
}

// g at element e (dy, masked by y > 0 after a fused ReLU; fk = the row's forward coefficients).
fn grad4(e4: u32, fk: vec4f) -> vec4f {
  if (RELU) { return select(vec4f(0.0), x4[e4], (u4[e4] - fk.x) * fk.y + fk.z > vec4f(0.0)); }
  return x4[e4];
}
fn grad1(e: u32, fk: vec4f) -> f32 {
  if (RELU) { return select(0.0, x1[e], (u1[e] - fk.x) * fk.y + fk.z > 0.0); }
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
    let rstd = k.w;
    if (VEC) {
      var s1 = vec4f(0.0);
      var s2 = vec4f(0.0);
      for (var i = start + 4u * lane; i < end; i += 32u) {
        let e4 = (base + i) / 4u;
        let g = grad4(e4, k);
        s1 += g;
        s2 += g * (u4[e4] - vec4f(mean)) * rstd;
      }
      s = vec2f(dot(s1, vec4f(1.0)), dot(s2, vec4f(1.0)));
    } else {
      for (var i = start + lane; i < end; i += 8u) {
        let g = grad1(base + i, k);
        s += vec2f(g, g * (u1[base + i] - mean) * rstd);
      }
    }
  }
  return subgroupAdd(s);
}

fn elementwise(row: u32, chunk: u32, lane: u32) {
  let start = chunk * p.chunk;
  let end = min(start + p.chunk, p.r);
  let base = row * p.r;
  let k = coef(row);
  var fk = vec4f(0.0);
  if (MODE == 4u && RELU) { fk = forward_coef(row); }
  if (VEC) {
    for (var i = start + 4u * lane; i < end; i += 32u) {
      let e4 = (base + i) / 4u;
      var v: vec4f;
      if (MODE == 2u) {
        v = (x4[e4] - k.x) * k.y + k.z;
        if (RELU) { v = max(v, vec4f(0.0)); }
        if (RESIDUAL) { v += u4[e4]; }
      } else {
        v = grad4(e4, fk) * k.y + (u4[e4] - k.x) * k.z + k.w;
      }
      out4[e4] = v;
    }
  } else {
    for (var i = start + lane; i < end; i += 8u) {
      var v: f32;
      if (MODE == 2u) {
        v = (x1[base + i] - k.x) * k.y + k.z;
        if (RELU) { v = max(v, 0.0); }
        if (RESIDUAL) { v += u1[base + i]; }
      } else {
        v = grad1(base + i, fk) * k.y + (u1[base + i] - k.x) * k.z + k.w;
      }
      out1[base + i] = v;
    }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
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
