// Softmax family over the channel axis of x viewed as [outer, C, inner] (NCDHW: outer = B,
// inner = D·H·W, channel stride = inner). Each invocation owns VEC (4, or 1 for odd shapes)
// neighbouring voxels and loops over C, so every load is a vec4 that is contiguous across lanes.
//
// On llvmpipe every storage load is a per-lane loop (docs/kernels-lavapipe.md), so with CACHED
// (C ≤ MAXC, C a pipeline constant) a voxel's C values are loaded once into a private array: the
// channel loops then unroll and the array lives in registers (or cheap stack spills). Otherwise
// the passes (max, sum, write) re-read the values.
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
  inner: u32,
  work: u32,      // outer · inner / VEC invocations with work
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

override OP: u32 = 0;
override C: u32 = 16;
override CACHED: bool = true;   // C <= MAXC
override VEC: u32 = 4;
override WG: u32 = 64;

const EPS = 1e-6;
const MAXC = 32u;

alias Channels = array<vec4f, MAXC>;

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

// The voxel group's channel values of a (or b), cached when CACHED.
fn cache_a(base: u32) -> Channels {
  var v: Channels;
  if (CACHED) { for (var c = 0u; c < C; c++) { v[c] = ld_a(base + c * p.inner); } }
  return v;
}
fn cache_b(base: u32) -> Channels {
  var v: Channels;
  if (CACHED) { for (var c = 0u; c < C; c++) { v[c] = ld_b(base + c * p.inner); } }
  return v;
}
fn at_a(v: ptr<function, Channels>, base: u32, c: u32) -> vec4f {
  if (CACHED) { return (*v)[c]; }
  return ld_a(base + c * p.inner);
}
fn at_b(v: ptr<function, Channels>, base: u32, c: u32) -> vec4f {
  if (CACHED) { return (*v)[c]; }
  return ld_b(base + c * p.inner);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  if (t >= p.work) { return; }
  let per = p.inner / VEC;
  let o = t / per;
  let i = (t - o * per) * VEC;
  let base = o * C * p.inner + i;   // channel 0 of this voxel group
  let voxel = o * p.inner + i;      // index into per-voxel maps
  let cs = p.inner;                 // channel stride
  var av = cache_a(base);

  if (OP == 3u) {
    var h = vec4f(0.0);
    for (var c = 0u; c < C; c++) { h += entropy_term(at_a(&av, base, c)); }
    st(voxel, h);
    return;
  }
  if (OP == 7u) {
    let g = ld_b(voxel);
    for (var c = 0u; c < C; c++) { st(base + c * cs, g * entropy_slope(at_a(&av, base, c))); }
    return;
  }
  if (OP == 4u || OP == 5u) {
    var bv = cache_b(base);
    var dot = vec4f(0.0);
    for (var c = 0u; c < C; c++) { dot += at_b(&bv, base, c) * select(vec4f(1.0), at_a(&av, base, c), OP == 4u); }
    for (var c = 0u; c < C; c++) {
      let yc = at_a(&av, base, c);
      if (OP == 4u) { st(base + c * cs, yc * (at_b(&bv, base, c) - dot)); }
      else { st(base + c * cs, at_b(&bv, base, c) - exp(yc) * dot); }
    }
    return;
  }

  // Softmax statistics of the logits: the max keeps exp() in range (numerically stable).
  var m = at_a(&av, base, 0u);
  for (var c = 1u; c < C; c++) { m = max(m, at_a(&av, base, c)); }
  var s = vec4f(0.0);
  for (var c = 0u; c < C; c++) { s += exp(at_a(&av, base, c) - m); }
  let r = 1.0 / s;

  if (OP == 0u) {
    for (var c = 0u; c < C; c++) { st(base + c * cs, exp(at_a(&av, base, c) - m) * r); }
  } else if (OP == 1u) {
    let shift = m + log(s);
    for (var c = 0u; c < C; c++) { st(base + c * cs, at_a(&av, base, c) - shift); }
  } else if (OP == 2u) {
    var h = vec4f(0.0);
    for (var c = 0u; c < C; c++) { h += entropy_term(exp(at_a(&av, base, c) - m) * r); }
    st(voxel, h);
  } else if (OP == 6u) {
    var mean_slope = vec4f(0.0);
    for (var c = 0u; c < C; c++) {
      let q = exp(at_a(&av, base, c) - m) * r;
      mean_slope += q * entropy_slope(q);
    }
    let g = ld_b(voxel);
    for (var c = 0u; c < C; c++) {
      let q = exp(at_a(&av, base, c) - m) * r;
      st(base + c * cs, g * q * (entropy_slope(q) - mean_slope));
    }
  }
}
