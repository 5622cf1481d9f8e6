// Feature vectors of chosen voxels (contrastive anchor sampling, method-spec §7) and the adjoint.
// x is [B, C, S] (NCDHW with S = d·h·w); a voxel is addressed by v = b·S + s.
//
// MODE 0 gather:  y[m, c] = x[b_m, c, s_m] for the M chosen voxels index[m] = b_m·S + s_m
// MODE 1 adjoint: y[b, c, s] = g[owner[b·S + s], c] where the voxel was chosen, else 0. `owner`
//                 (the inverse of index, −1 for voxels not chosen) is built on the host, which also
//                 checks that no voxel is chosen twice, so every output element has at most one
//                 source: a plain gather, deterministic, no atomics. Lanes own 4 consecutive voxels
//                 (vec4 stores) when S is a multiple of 4.

struct Params {
  m: u32,
  c: u32,
  s: u32,
  work: u32,       // MODE 0: M·C outputs; MODE 1: B·C·S / VEC outputs
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // MODE 0: features; MODE 1: g [M, C]
@group(0) @binding(2) var<storage, read> index: array<i32>;       // MODE 0: [M]; MODE 1: owner [B·S]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override MODE: u32 = 0;
override VEC: u32 = 4;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  if (t >= p.work) { return; }
  if (MODE == 0u) {
    let m = t / p.c;
    let c = t - m * p.c;
    let v = u32(index[m]);
    let b = v / p.s;
    y[t] = x[(b * p.c + c) * p.s + (v - b * p.s)];
    return;
  }
  let first = t * VEC;                  // element of y: (b·C + c)·S + s
  let row = first / p.s;                // b·C + c
  let b = row / p.c;
  let c = row - b * p.c;
  let s = first - row * p.s;
  for (var k = 0u; k < VEC; k++) {
    let owner = index[b * p.s + s + k];
    var v = 0.0;
    if (owner >= 0) { v = x[u32(owner) * p.c + c]; }
    y[first + k] = v;
  }
}
