// Reduction of x viewed as [outer, R, inner] over R, optionally split into S chunks of R so that
// small outputs still give the GPU enough threads: output [outer, S, inner]; a second dispatch
// reduces the S partials. Each thread walks its chunk in order, so results are deterministic.
// Threads are laid out with `inner` fastest, so neighbouring lanes read neighbouring addresses.
alias T = f32;
alias TO = f32;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  chunk: u32,        // elements of R per split
  splits: u32,       // S
  scale: f32,        // applied to the result (1/R for mean; 1 otherwise)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<TO>;

override OP: u32 = 0;      // 0 sum, 1 max, 2 min, 3 argmax (index into R, first maximum)
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  if (t >= p.outer * p.splits * p.inner) { return; }
  let i = t % p.inner;
  let s = (t / p.inner) % p.splits;
  let o = t / (p.inner * p.splits);
  let begin = s * p.chunk;
  let end = min(p.r, begin + p.chunk);
  var at = (o * p.r + begin) * p.inner + i;
  var acc = x[at];
  var best = begin;
  for (var r = begin + 1u; r < end; r++) {
    at += p.inner;
    let v = x[at];
    switch OP {
      case 0u: { acc += v; }
      case 1u: { acc = max(acc, v); }
      case 2u: { acc = min(acc, v); }
      default: { if (v > acc) { acc = v; best = r; } }
    }
  }
  if (OP == 3u) {
    y[t] = TO(best);
  } else {
    y[t] = TO(f32(acc) * p.scale);
  }
}
