// Cross-image cube mixing (MagicNet's partition/recovery, method-spec §3): the volume is a grid of
// n³ cubes; output image b takes cube c from input image source[b·n³ + c], cube c keeping its
// place. Recovery is the same op with the inverse permutation. Layout [B, C, D, H, W].
// VEC 1: vec4 along W (cube edge a multiple of 4, so a vec4 never straddles two cubes).
struct Params {
  batch: u32,
  channels: u32,
  d: u32,
  h: u32,
  w: u32,
  edge: u32,         // cube edge in voxels (D / n)
  n: u32,            // cubes per axis
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> source: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

override VEC: bool = true;
override WG: u32 = 64;

fn source_offset(e: u32) -> u32 {
  // e = (((b·C + ch)·D + z)·H + r)·W + q
  let q = e % p.w;
  let r = (e / p.w) % p.h;
  let z = (e / (p.w * p.h)) % p.d;
  let volume = p.d * p.h * p.w;
  let b = e / (volume * p.channels);
  let cube = ((z / p.edge) * p.n + r / p.edge) * p.n + q / p.edge;
  let src = u32(source[b * p.n * p.n * p.n + cube]);
  return e + (src - b) * volume * p.channels;   // same channel and voxel in image `src`
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let g = gid.x + gid.y * groups.x * WG;
  let total = p.batch * p.channels * p.d * p.h * p.w;
  if (g * 4u >= total) { return; }
  if (VEC) {
    y[g] = x[source_offset(g * 4u) / 4u];
  } else {
    var v: vec4f;
    for (var k = 0u; k < 4u; k++) {
      let e = min(g * 4u + k, total - 1u);
      let s = source_offset(e);
      v[k] = x[s / 4u][s % 4u];
    }
    y[g] = v;
  }
}
