// Softmax family over the channel axis of x viewed as [outer, C, inner] (NCDHW: outer = B,
// inner = D·H·W, channel stride = inner). Each invocation owns VEC (4, or 1 for odd shapes)
// neighbouring voxels and loops over C, so every load is a vec4 that is contiguous across lanes
// (no gathers on lavapipe). The passes (max, sum, write) re-read the voxel's C values instead of
// keeping exp() results: a SIMD group touches 8 lanes · 4 voxels · C · 4 B = 2 KB at C = 16, which
// stays in L1, and two exp() per element cost less than the register spills an array would.
//
// OP: 0 softmax          y = softmax(a)
//     1 log_softmax      y = a − logsumexp(a)
//     2 entropy          y = H(softmax(a))                        (per voxel)
//     3 entropy          y = H(a), a = probabilities              (per voxel)
//     4 softmax VJP      a = y, b = g:   g_x = y ⊙ (g − Σ_c g·y)
//     5 log_softmax VJP  a = log y, b = g: g_x = g − exp(a)·Σ_c g
//     6 entropy VJP      a = logits, b = g_H (per voxel): g_x = g_H · p ⊙ (d − Σ_c p·d)
//     7 entropy VJP      a = probabilities, b = g_H:      g_p = g_H · d
// with the voxel entropy H = −Σ_c p_c·log(p_c + 1e-6) (natural log, method-spec §4) and
// d_c = ∂H/∂p_c = −log(p_c + 1e-6) − p_c/(p_c + 1e-6). Per-voxel maps are [outer, inner].

struct Params {
  c: u32,
  inner: u32,
  work: u32,      // outer · inner / VEC invocations with work
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

override OP: u32 = 0;
override VEC: u32 = 4;
override WG: u32 = 64;

const EPS = 1e-6;

fn ld_a(at: u32) -> vec4f {
  if (VEC == 4u) { return a[at >> 2u]; }
  return vec4f(a[at >> 2u][at & 3u]);
}
fn ld_b(at: u32) -> vec4f {
  if (VEC == 4u) { return b[at >> 2u]; }
  return vec4f(b[at >> 2u][at & 3u]);
}
fn st(at: u32, v: vec4f) {
  if (VEC == 4u) { y[at >> 2u] = v; } else { y[at >> 2u][at & 3u] = v.x; }
}
fn entropy_term(q: vec4f) -> vec4f { return -q * log(q + EPS); }
fn entropy_slope(q: vec4f) -> vec4f { return -log(q + EPS) - q / (q + EPS); }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  if (t >= p.work) { return; }
  let per = p.inner / VEC;
  let o = t / per;
  let i = (t - o * per) * VEC;
  let base = o * p.c * p.inner + i;   // channel 0 of this voxel group
  let voxel = o * p.inner + i;        // index into per-voxel maps
  let cs = p.inner;                   // channel stride

  if (OP == 3u) {
    var h = vec4f(0.0);
    for (var c = 0u; c < p.c; c++) { h += entropy_term(ld_a(base + c * cs)); }
    st(voxel, h);
    return;
  }
  if (OP == 7u) {
    let g = ld_b(voxel);
    for (var c = 0u; c < p.c; c++) { st(base + c * cs, g * entropy_slope(ld_a(base + c * cs))); }
    return;
  }
  if (OP == 4u) {
    var dot = vec4f(0.0);
    for (var c = 0u; c < p.c; c++) { dot += ld_b(base + c * cs) * ld_a(base + c * cs); }
    for (var c = 0u; c < p.c; c++) { st(base + c * cs, ld_a(base + c * cs) * (ld_b(base + c * cs) - dot)); }
    return;
  }
  if (OP == 5u) {
    var total = vec4f(0.0);
    for (var c = 0u; c < p.c; c++) { total += ld_b(base + c * cs); }
    for (var c = 0u; c < p.c; c++) { st(base + c * cs, ld_b(base + c * cs) - exp(ld_a(base + c * cs)) * total); }
    return;
  }

  // Softmax statistics of the logits: the max keeps exp() in range (numerically stable).
  var m = ld_a(base);
  for (var c = 1u; c < p.c; c++) { m = max(m, ld_a(base + c * cs)); }
  var s = vec4f(0.0);
  for (var c = 0u; c < p.c; c++) { s += exp(ld_a(base + c * cs) - m); }
  let r = 1.0 / s;

  if (OP == 0u) {
    for (var c = 0u; c < p.c; c++) { st(base + c * cs, exp(ld_a(base + c * cs) - m) * r); }
  } else if (OP == 1u) {
    let shift = m + log(s);
    for (var c = 0u; c < p.c; c++) { st(base + c * cs, ld_a(base + c * cs) - shift); }
  } else if (OP == 2u) {
    var h = vec4f(0.0);
    for (var c = 0u; c < p.c; c++) { h += entropy_term(exp(ld_a(base + c * cs) - m) * r); }
    st(voxel, h);
  } else if (OP == 6u) {
    var mean_slope = vec4f(0.0);
    for (var c = 0u; c < p.c; c++) {
      let q = exp(ld_a(base + c * cs) - m) * r;
      mean_slope += q * entropy_slope(q);
    }
    let g = ld_b(voxel);
    for (var c = 0u; c < p.c; c++) {
      let q = exp(ld_a(base + c * cs) - m) * r;
      st(base + c * cs, g * q * (entropy_slope(q) - mean_slope));
    }
  }
}
