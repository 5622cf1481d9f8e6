// Gradients of losses built from per-class sums (kernels/class_sums.wgsl), given per-class
// coefficients computed on the GPU from those sums and the upstream gradient:
//
// MODE 0 (Dice, GA-Dice; method-spec §4): y[o, c, i] = α_c·[label = c] + β_c·p[o, c, i]
//          with coef = [α_0..α_{C−1}, β_0..β_{C−1}]; values = p [outer, C, inner]
// MODE 1 (GA cross-entropy): y[v] = coef[label_v] if voxel v is among the selected top K, else 0;
//          values = voxel losses [n] (the selection test needs them), coef = [C]
// Labels outside [0, C) belong to no class.

struct Params {
  c: u32,
  inner: u32,
  work: u32,      // outer · inner / VEC voxel groups
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<vec4i>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4f>;

override MODE: u32 = 0;
override VEC: u32 = 4;
override WG: u32 = 64;

fn ld_values(at: u32) -> vec4f {
  if (VEC == 4u) { return values[at >> 2u]; }
  return vec4f(values[at >> 2u][at & 3u]);
}
fn ld_label(at: u32) -> vec4i {
  if (VEC == 4u) { return labels[at >> 2u]; }
  return vec4i(labels[at >> 2u][at & 3u]);
}
fn st(at: u32, v: vec4f) {
  if (VEC == 4u) { y[at >> 2u] = v; } else { y[at >> 2u][at & 3u] = v.x; }
}

// Order-preserving key of f32 bits, the same as kernels/radix_select.wgsl.
fn order_key(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, v == 0.0);   // −0 ranks as +0, like torch.topk
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn selected_coef(v: f32, index: u32, label: i32) -> f32 {
  let key = order_key(v);
  let chosen = key > state[0] || (key == state[0] && index < state[1]);
  if (!chosen || label < 0 || label >= i32(p.c)) { return 0.0; }
  return coef[label];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let g = gid.x + gid.y * groups.x * WG;
  if (g >= p.work) { return; }
  let per = p.inner / VEC;
  let o = g / per;
  let i = (g - o * per) * VEC;
  let voxel = o * p.inner + i;
  let label = ld_label(voxel);
  if (MODE == 1u) {
    let v = ld_values(voxel);
    st(voxel, vec4f(
      selected_coef(v.x, voxel, label.x),
      selected_coef(v.y, voxel + 1u, label.y),
      selected_coef(v.z, voxel + 2u, label.z),
      selected_coef(v.w, voxel + 3u, label.w),
    ));
    return;
  }
  for (var c = 0u; c < p.c; c++) {
    let at = (o * p.c + c) * p.inner + i;
    let hit = select(vec4f(0.0), vec4f(coef[c]), label == vec4i(i32(c)));
    st(at, hit + coef[p.c + c] * ld_values(at));
  }
}
