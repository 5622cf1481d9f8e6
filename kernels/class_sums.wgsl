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
// Each invocation owns PER groups of VEC voxels and walks the classes in an outer loop, so it
// keeps three accumulators in registers; its labels are re-read per class from L1.

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
  for (var c = 0u; c < C; c++) {
    var acc = vec3f(0.0);
    for (var k = 0u; k < PER; k++) {
      let g = (wg * PER + k) * WG + lid;
      if (g >= p.work) { break; }
      let o = g / per;
      let i = (g - o * per) * VEC;
      let voxel = o * p.inner + i;
      let hit = select(vec4f(0.0), live, ld_label(voxel) == vec4i(i32(c)));
      if (MODE == 0u) {
        let q = ld_values((o * C + c) * p.inner + i) * live;
        acc += vec3f(dot(q, hit), dot(q, q), dot(hit, vec4f(1.0)));
      } else {
        let v = ld_values(voxel);
        let chosen = vec4f(
          select(0.0, 1.0, is_selected(v.x, voxel)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.y, voxel + 1u)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.z, voxel + 2u)),
          select(0.0, 1.0, VEC == 4u && is_selected(v.w, voxel + 3u)),
        ) * hit;
        acc += vec3f(dot(v, chosen), dot(chosen, vec4f(1.0)), 0.0);
      }
    }
    let slot = lid * 3u * C + c;
    lane_sums[slot] = acc.x;
    lane_sums[slot + C] = acc.y;
    lane_sums[slot + 2u * C] = acc.z;
  }
  workgroupBarrier();
  // Column sums over the lanes in lane order (deterministic).
  for (var q = lid; q < 3u * C; q += WG) {
    var total = 0.0;
    for (var l = 0u; l < WG; l++) { total += lane_sums[l * 3u * C + q]; }
    y[wg * 3u * C + q] = total;
  }
}
