// Per-class sums over voxels, first stage of a deterministic two-stage reduction: each workgroup
// writes its partial sums [3, C] (y[wg·3C + q·C + c]); the host sums the partials over workgroups
// with the ordered `sum` reduction. No float atomics anywhere.
//
// MODE 0 (Dice, method-spec §4): values = probabilities [outer, C, inner], t = one-hot(labels):
//          q = 0: Σ p_c·t_c,   q = 1: Σ p_c²,   q = 2: Σ t_c
// MODE 1 (GA cross-entropy's top-K, §4): values = voxel losses [n], selected = the K largest
//          (radix-select state: key > T, or key == T and index < cutoff):
//          q = 0: Σ_{selected, y = c} value,   q = 1: #{selected, y = c},   q = 2: 0
// Labels outside [0, C) belong to no class.
//
// Each invocation owns PER groups of VEC voxels; per group it loads the labels (and the selection)
// once and walks the classes in an inner loop of CHUNK = min(C, 32) classes (a pipeline constant,
// so the loop unrolls and the 3·CHUNK accumulators stay in registers: on llvmpipe every storage
// load is a per-lane loop, so loads, not arithmetic, set the cost). More classes take more chunks.

struct Params {
  c: u32,
  inner: u32,
  work: u32,      // outer · inner / VEC voxel groups
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<vec4i>;
@group(0) @binding(3) var<storage, read> state: array<u32>;     // MODE 1: [T key, cutoff, ...]
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override MODE: u32 = 0;
override C: u32 = 16;
override VEC: u32 = 4;
override WG: u32 = 64;
override PER: u32 = 8;
override CHUNK: u32 = 16;      // min(C, MAXC)

const MAXC = 32u;

var<workgroup> lane_sums: array<f32, WG * 3u * C>;

fn ld_values(at: u32) -> vec4f {
  if (VEC == 4u) { return values[at >> 2u]; }
  return vec4f(values[at >> 2u][at & 3u], 0.0, 0.0, 0.0);
}
fn ld_label(at: u32) -> vec4i {
  if (VEC == 4u) { return labels[at >> 2u]; }
  return vec4i(labels[at >> 2u][at & 3u], -1, -1, -1);
}

// Order-preserving key of f32 bits, the same as kernels/radix_select.wgsl.
fn order_key(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, v == 0.0);   // −0 ranks as +0, like torch.topk
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn is_selected(v: f32, index: u32) -> bool {
  let key = order_key(v);
  return key > state[0] || (key == state[0] && index < state[1]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) groups: vec3u) {
  let wg = wid.x + wid.y * groups.x;
  let per = p.inner / VEC;
  let live = select(vec4f(1.0, 0.0, 0.0, 0.0), vec4f(1.0), VEC == 4u);
  var acc: array<vec3f, MAXC>;
  for (var c0 = 0u; c0 < C; c0 += CHUNK) {
    // Reset explicitly: a declaration inside the loop was not re-zeroed per iteration on llvmpipe.
    for (var j = 0u; j < CHUNK; j++) { acc[j] = vec3f(0.0); }
    for (var k = 0u; k < PER; k++) {
      let g = (wg * PER + k) * WG + lid;
      if (g >= p.work) { break; }
      let o = g / per;
      let i = (g - o * per) * VEC;
      let voxel = o * p.inner + i;
      let label = ld_label(voxel);
      var v = vec4f(0.0);
      var chosen = vec4f(0.0);
      if (MODE == 1u) {
        v = ld_values(voxel);
        chosen = vec4f(
          select(0.0, 1.0, is_selected(v.x, voxel)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.y, voxel + 1u)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.z, voxel + 2u)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.w, voxel + 3u)),
        );
      }
      for (var j = 0u; j < CHUNK; j++) {
        let c = c0 + j;
        let hit = select(vec4f(0.0), live, label == vec4i(i32(c)));
        if (MODE == 0u) {
          if (c < C) {
            let q = ld_values((o * C + c) * p.inner + i) * live;
            acc[j] += vec3f(dot(q, hit), dot(q, q), dot(hit, vec4f(1.0)));
          }
        } else {
          let mine = chosen * hit;
          acc[j] += vec3f(dot(v, mine), dot(mine, vec4f(1.0)), 0.0);
        }
      }
    }
    for (var j = 0u; j < CHUNK; j++) {
      let c = c0 + j;
      if (c < C) {
        let slot = lid * 3u * C + c;
        lane_sums[slot] = acc[j].x;
        lane_sums[slot + C] = acc[j].y;
        lane_sums[slot + 2u * C] = acc[j].z;
      }
    }
  }
  workgroupBarrier();
  // Column sums over the lanes in lane order (deterministic).
  for (var q = lid; q < 3u * C; q += WG) {
    var total = 0.0;
    for (var l = 0u; l < WG; l++) { total += lane_sums[l * 3u * C + q]; }
    y[wg * 3u * C + q] = total;
  }
}
