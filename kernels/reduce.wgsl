// Reduction of x viewed as [outer, R, inner] over R, optionally split into S chunks of R so that
// small outputs still give the GPU enough threads: output [outer, S, inner]; a second dispatch
// reduces the S partials. Each thread walks its chunk in order, so results are deterministic.
//
// VEC picks the vectorisation (vec4 loads measured ~2.5x faster than scalar ones on lavapipe):
//   0 scalar (odd shapes), 1 vec4 along R (inner == 1: each thread sums a contiguous chunk),
//   2 vec4 along inner (each thread owns 4 neighbouring columns; inner % 4 == 0).
alias T = f32;
alias TO = f32;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  chunk: u32,        // elements of R per split (a multiple of 4 with VEC 1)
  splits: u32,       // S
  scale: f32,        // applied to the result (1/R for mean; 1 otherwise)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> y: array<TO>;

override OP: u32 = 0;      // 0 sum, 1 max, 2 min, 3 argmax (index into R, first maximum)
override VEC: u32 = 0;
override WG: u32 = 64;

fn combine(acc: vec4<T>, v: vec4<T>) -> vec4<T> {
  switch OP {
    case 1u: { return max(acc, v); }
    case 2u: { return min(acc, v); }
    default: { return acc + v; }
  }
}

fn finish(v: T) -> TO { return TO(f32(v) * p.scale); }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  let lanes = select(1u, 4u, VEC == 2u);              // outputs per thread
  let columns = p.inner / lanes;
  if (t >= p.outer * p.splits * columns) { return; }
  let i = (t % columns) * lanes;
  let s = (t / columns) % p.splits;
  let o = t / (columns * p.splits);
  let begin = s * p.chunk;
  let end = min(p.r, begin + p.chunk);
  let out = (o * p.splits + s) * p.inner + i;

  if (VEC == 1u) {
    // Contiguous chunk: vec4 partial sums, then a horizontal reduction.
    var acc = x[(o * p.r + begin) / 4u];
    for (var r = begin + 4u; r < end; r += 4u) { acc = combine(acc, x[(o * p.r + r) / 4u]); }
    var v = acc.x;
    if (OP == 1u) { v = max(max(acc.x, acc.y), max(acc.z, acc.w)); }
    else if (OP == 2u) { v = min(min(acc.x, acc.y), min(acc.z, acc.w)); }
    else { v = (acc.x + acc.y) + (acc.z + acc.w); }
    y[out] = finish(v);
    return;
  }
  if (VEC == 2u) {
    var at = ((o * p.r + begin) * p.inner + i) / 4u;
    var acc = x[at];
    var best = vec4u(begin);
    for (var r = begin + 1u; r < end; r++) {
      at += p.inner / 4u;
      let v = x[at];
      if (OP == 3u) {
        best = select(best, vec4u(r), v > acc);
        acc = max(acc, v);
      } else {
        acc = combine(acc, v);
      }
    }
    for (var c = 0u; c < 4u; c++) {
      if (OP == 3u) { y[out + c] = TO(best[c]); } else { y[out + c] = finish(acc[c]); }
    }
    return;
  }
  var at = (o * p.r + begin) * p.inner + i;
  var acc = x[at / 4u][at % 4u];
  var best = begin;
  for (var r = begin + 1u; r < end; r++) {
    at += p.inner;
    let v = x[at / 4u][at % 4u];
    if (OP == 3u) {
      if (v > acc) { acc = v; best = r; }
    } else {
      acc = combine(vec4<T>(acc), vec4<T>(v)).x;
    }
  }
  if (OP == 3u) { y[out] = TO(best); } else { y[out] = finish(acc); }
}
