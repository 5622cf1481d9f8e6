// TAK's text-driven dynamic segmentation head (method-spec §6, Universal Model `heads_forward`):
// for image b and class k, parameters θ[b, k] (153 = W1 64, W2 64, W3 8, b1 8, b2 8, b3 1; W1, W2
// as (out 8, in 8) row-major, W3 as (1, 8)) map the 8 features h[b, :, v] of every voxel to
//   z[b, k, v] = W3·ReLU(W2·ReLU(W1·h + b1) + b2) + b3.
// Lanes own VEC (4, or 1 for odd sizes) neighbouring voxels; θ is indexed by workgroup ids and
// loop counters only, so every lane reads the same address (broadcast loads on lavapipe). The
// hidden activations are recomputed in the backward passes instead of stored: storing them would
// take [B, K, 16, D, H, W] = 1.8 GB at B = 2, K = 16, 96³.
//
// MODE 0  forward: y = z [B, K, S]; each lane loads its h once and loops over the K classes.
// MODE 1  ∂h: y [B, 8, S] = Σ_k W1ᵀ·(ReLU'·W2ᵀ·(ReLU'·W3ᵀ·g_z)), g_z = gz [B, K, S].
// MODE 2  ∂θ, first stage: workgroup (block, k, b) sums the 153 per-voxel products over its
//         WG·G voxel groups (each lane in registers, then the lanes in workgroup memory, in lane
//         order) into y [B, K, blocks, 153]; the host sums over blocks. Deterministic.

struct Params {
  k: u32,          // classes K
  s: u32,          // voxels per image
  groups: u32,     // voxel groups per image: s / VEC
  blocks: u32,     // MODE 2: workgroups per (b, k)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> h: array<vec4f>;        // [B, 8, S]
@group(0) @binding(2) var<storage, read> theta: array<f32>;      // [B, K, 153]
@group(0) @binding(3) var<storage, read> gz: array<vec4f>;       // [B, K, S] (MODE 1, 2)
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

override MODE: u32 = 0;
override VEC: u32 = 4;
override WG: u32 = 64;
override G: u32 = 16;          // MODE 2: voxel groups per lane
override SUM_LANES: u32 = 1;   // MODE 2: WG (workgroup memory for the lane sums); 1 otherwise

const P = 153u;
const W2_AT = 64u;
const W3_AT = 128u;
const B1_AT = 136u;
const B2_AT = 144u;
const B3_AT = 152u;

var<workgroup> lane_sums: array<f32, SUM_LANES * P>;

// Element `at` of a [.., S] map as a vec4 of VEC voxels (zeros past the first when VEC = 1).
fn ld_h(at: u32) -> vec4f {
  if (VEC == 4u) { return h[at >> 2u]; }
  return vec4f(h[at >> 2u][at & 3u], 0.0, 0.0, 0.0);
}
fn ld_gz(at: u32) -> vec4f {
  if (VEC == 4u) { return gz[at >> 2u]; }
  return vec4f(gz[at >> 2u][at & 3u], 0.0, 0.0, 0.0);
}
fn st(at: u32, v: vec4f) {
  if (VEC == 4u) { y[at >> 2u] = v; } else { y[at >> 2u][at & 3u] = v.x; }
}

struct Hidden {
  pre1: array<vec4f, 8>,
  h1: array<vec4f, 8>,
  pre2: array<vec4f, 8>,
  h2: array<vec4f, 8>,
}

fn hidden(t: u32, x: array<vec4f, 8>) -> Hidden {
  var r: Hidden;
  for (var o = 0u; o < 8u; o++) {
    var acc = vec4f(theta[t + B1_AT + o]);
    for (var i = 0u; i < 8u; i++) { acc += theta[t + o * 8u + i] * x[i]; }
    r.pre1[o] = acc;
    r.h1[o] = max(acc, vec4f(0.0));
  }
  for (var o = 0u; o < 8u; o++) {
    var acc = vec4f(theta[t + B2_AT + o]);
    for (var i = 0u; i < 8u; i++) { acc += theta[t + W2_AT + o * 8u + i] * r.h1[i]; }
    r.pre2[o] = acc;
    r.h2[o] = max(acc, vec4f(0.0));
  }
  return r;
}

fn load_features(b: u32, v: u32) -> array<vec4f, 8> {
  var x: array<vec4f, 8>;
  for (var c = 0u; c < 8u; c++) { x[c] = ld_h((b * 8u + c) * p.s + v); }
  return x;
}

// ∂z/∂pre2 and ∂z/∂pre1 times g_z.
struct Backward {
  g2: array<vec4f, 8>,
  g1: array<vec4f, 8>,
}

fn backward(t: u32, r: Hidden, g: vec4f) -> Backward {
  var out: Backward;
  for (var o = 0u; o < 8u; o++) {
    out.g2[o] = select(vec4f(0.0), g * theta[t + W3_AT + o], r.pre2[o] > vec4f(0.0));
  }
  for (var i = 0u; i < 8u; i++) {
    var acc = vec4f(0.0);
    for (var o = 0u; o < 8u; o++) { acc += theta[t + W2_AT + o * 8u + i] * out.g2[o]; }
    out.g1[i] = select(vec4f(0.0), acc, r.pre1[i] > vec4f(0.0));
  }
  return out;
}

fn total(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (MODE == 2u) {
    let k = wid.y;
    let b = wid.z;
    let t = (b * p.k + k) * P;
    var acc: array<f32, P>;
    for (var n = 0u; n < G; n++) {
      let group = (wid.x * G + n) * WG + lid;
      if (group >= p.groups) { break; }
      let v = group * VEC;
      let x = load_features(b, v);
      let g = ld_gz((b * p.k + k) * p.s + v);
      let r = hidden(t, x);
      let d = backward(t, r, g);
      acc[B3_AT] += total(g);
      for (var o = 0u; o < 8u; o++) {
        acc[W3_AT + o] += dot(g, r.h2[o]);
        acc[B2_AT + o] += total(d.g2[o]);
        acc[B1_AT + o] += total(d.g1[o]);
        for (var i = 0u; i < 8u; i++) {
          acc[W2_AT + o * 8u + i] += dot(d.g2[o], r.h1[i]);
          acc[o * 8u + i] += dot(d.g1[o], x[i]);
        }
      }
    }
    for (var q = 0u; q < P; q++) { lane_sums[q * WG + lid] = acc[q]; }
    workgroupBarrier();
    let out = ((b * p.k + k) * p.blocks + wid.x) * P;
    for (var q = lid; q < P; q += WG) {
      var sum = 0.0;
      for (var l = 0u; l < WG; l++) { sum += lane_sums[q * WG + l]; }
      let at = out + q;
      y[at >> 2u][at & 3u] = sum;
    }
    return;
  }

  let b = wid.y;
  let group = wid.x * WG + lid;
  if (group >= p.groups) { return; }
  let v = group * VEC;
  let x = load_features(b, v);
  if (MODE == 0u) {
    for (var k = 0u; k < p.k; k++) {
      let t = (b * p.k + k) * P;
      let r = hidden(t, x);
      var z = vec4f(theta[t + B3_AT]);
      for (var o = 0u; o < 8u; o++) { z += theta[t + W3_AT + o] * r.h2[o]; }
      st((b * p.k + k) * p.s + v, z);
    }
    return;
  }
  // MODE 1
  var gx: array<vec4f, 8>;
  for (var k = 0u; k < p.k; k++) {
    let t = (b * p.k + k) * P;
    let d = backward(t, hidden(t, x), ld_gz((b * p.k + k) * p.s + v));
    for (var j = 0u; j < 8u; j++) {
      var acc = gx[j];
      for (var i = 0u; i < 8u; i++) { acc += theta[t + i * 8u + j] * d.g1[i]; }
      gx[j] = acc;
    }
  }
  for (var c = 0u; c < 8u; c++) { st((b * 8u + c) * p.s + v, gx[c]); }
}
