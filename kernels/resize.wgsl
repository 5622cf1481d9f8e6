// One axis of a separable resize (nearest or linear; trilinear = three passes) and its adjoint.
// x is viewed as [outer, n_in, inner] along the resized axis, y as [outer, n_out, inner].
//   MODE 0 FORWARD  y[o, j, i] = w0[j]·x[o, i0[j], i] + w1[j]·x[o, i1[j], i]
//                   (NEAREST: y = x[o, i0[j], i] bit for bit, any 32-bit element type)
//   MODE 1 ADJOINT  dx[o, k, i] = Σ_{j in first[k] .. last[k]} (w0[j]·[i0[j] = k] + w1[j]·[i1[j] = k])·dy[o, j, i]
// The per-output table (i0, i1, w0, w1) and, for the adjoint, the range of outputs that read each
// input come from the host, computed with PyTorch's float32 source-index formulas. The adjoint is a
// gather (deterministic; no atomics). Rows (o, j) run along workgroup y (+ z·65535), inner along x.
alias T = f32;

struct Params {
  inner: u32,
  n_in: u32,
  n_out: u32,
  rows: u32,       // outer * (n_out for FORWARD, n_in for ADJOINT)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> table: array<vec4f>;   // per output: (i0, i1, w0, w1)
@group(0) @binding(3) var<storage, read> ranges: array<vec2u>;  // per input: [first, last) outputs
@group(0) @binding(4) var<storage, read_write> y: array<T>;

override MODE: u32 = 0;
override NEAREST: bool = false;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y + wid.z * 65535u;
  let i = wid.x * WG + lid;
  if (row >= p.rows || i >= p.inner) { return; }
  if (MODE == 0u) {
    let o = row / p.n_out;
    let j = row % p.n_out;
    let t = table[j];
    let base = o * p.n_in * p.inner + i;
    let a = x[base + u32(t.x) * p.inner];
    if (NEAREST) {
      y[row * p.inner + i] = a;
    } else {
      y[row * p.inner + i] = T(t.z * f32(a) + t.w * f32(x[base + u32(t.y) * p.inner]));
    }
  } else {
    let o = row / p.n_in;
    let k = row % p.n_in;
    let r = ranges[k];
    var acc = 0.0;
    for (var j = r.x; j < r.y; j++) {
      let t = table[j];
      let w = select(0.0, t.z, u32(t.x) == k) + select(0.0, t.w, u32(t.y) == k);
      acc += w * f32(x[(o * p.n_out + j) * p.inner + i]);
    }
    y[row * p.inner + i] = T(acc);
  }
}
