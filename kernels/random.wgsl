// Counter-based random numbers: Threefry-2x32 with 20 rounds (as JAX), bit-identical to
// src/util/random.ts. Element i of a draw uses counter (i, stream); the key comes from the seed.
// DIST 0: uniform [lo, hi); DIST 1: normal(mean=lo, std=hi) by Box-Muller (two normals per counter,
// so pairs of elements share one counter: element 2j uses cos, 2j+1 uses sin). Over the binding
// limit the host draws runs of elements: y is bound at the run and `counter0` is its first counter.
struct Params {
  n: u32,
  counter0: u32,
  stream: u32,
  key0: u32,
  key1: u32,
  lo: f32,
  hi: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
override DIST: u32 = 0;

fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }

fn threefry(c0: u32, c1: u32) -> vec2u {
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  let ks = array<u32, 3>(p.key0, p.key1, p.key0 ^ p.key1 ^ 0x1BD11BDAu);
  var x0 = c0 + ks[0];
  var x1 = c1 + ks[1];
  for (var r = 0u; r < 20u; r++) {
    x0 += x1;
    x1 = rotl(x1, rot[r % 8u]) ^ x0;
    if (r % 4u == 3u) {
      let j = (r + 1u) / 4u;
      x0 += ks[j % 3u];
      x1 += ks[(j + 1u) % 3u] + j;
    }
  }
  return vec2u(x0, x1);
}

fn unit(bits: u32) -> f32 { return f32(bits >> 8u) * (1.0 / 16777216.0); }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (DIST == 0u) {
    if (i >= p.n) { return; }
    y[i] = p.lo + (p.hi - p.lo) * unit(threefry(p.counter0 + i, p.stream).x);
  } else {
    let j = i * 2u;
    if (j >= p.n) { return; }
    let bits = threefry(p.counter0 + i, p.stream);
    let r = sqrt(-2.0 * log(1.0 - unit(bits.x)));
    let angle = 6.283185307179586 * unit(bits.y);
    y[j] = p.lo + p.hi * r * cos(angle);
    if (j + 1u < p.n) { y[j + 1u] = p.lo + p.hi * r * sin(angle); }
  }
}
