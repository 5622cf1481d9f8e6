// Gather and its deterministic adjoint along one axis of x viewed as [outer, D, inner]:
//   GATHER:   y[o, j, i] = x[o, index[o, j, i], i]                       (y: [outer, J, inner])
//   SCATTER:  y[o, d, i] = base[o, d, i] + Σ_j [index[o, j, i] == d] · src[o, j, i]   (y: [outer, D, inner])
// The scatter is "owner computes": each output element scans the J indices of its column in order,
// so duplicate indices sum in a fixed order (bit-reproducible, unlike float atomics).
// index strides (0 = broadcast) let index_select pass a 1-D index for every outer/inner position.
// Out-of-range indices read 0 in GATHER and are ignored by SCATTER.
struct Params {
  outer: u32,
  d: u32,
  j: u32,
  inner: u32,
  index_outer: u32,
  index_j: u32,
  index_inner: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // GATHER: source; SCATTER: src [outer, J, inner]
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read> base: array<f32>;     // SCATTER: added to the sums (unused by GATHER)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
override SCATTER: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  let rows = select(p.j, p.d, SCATTER);
  if (t >= p.outer * rows * p.inner) { return; }
  let i = t % p.inner;
  let r = (t / p.inner) % rows;
  let o = t / (p.inner * rows);
  let index_base = o * p.index_outer + i * p.index_inner;
  if (!SCATTER) {
    let at = index[index_base + r * p.index_j];
    var v = 0.0;
    if (at >= 0 && u32(at) < p.d) { v = x[(o * p.d + u32(at)) * p.inner + i]; }
    y[t] = v;
  } else {
    var acc = base[t];
    for (var j = 0u; j < p.j; j++) {
      if (index[index_base + j * p.index_j] == i32(r)) { acc += x[(o * p.j + j) * p.inner + i]; }
    }
    y[t] = acc;
  }
}
