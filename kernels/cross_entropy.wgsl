// Cross-entropy over the channel axis of logits [outer, C, inner] with integer labels
// [outer, inner], class weights w [C] and an ignore index (torch.nn.CrossEntropyLoss semantics;
// labels outside [0, C) are ignored too). Lanes own VEC (4, or 1 for odd shapes) neighbouring
// voxels and loop over C, so loads are contiguous across lanes; the softmax is recomputed from
// the logits (max, then Σ exp) rather than stored. With CACHED (C ≤ MAXC, C a pipeline constant)
// a voxel's logits are loaded once into registers (on llvmpipe each storage load is a per-lane
// loop; see kernels/softmax.wgsl), otherwise each pass re-reads them.
//
// MODE 0  y[voxel] = w_y · ce,  ce = logsumexp(x) − x_y  (0 where ignored)   [outer, inner]
// MODE 1  per workgroup: y[wg] = (Σ w_y·ce, Σ w_y, 0, 0) over its WG·PER voxel groups; a tree
//         reduction in workgroup memory (fixed order: deterministic, no float atomics)
// MODE 2  VJP: y[o, c, i] = gv · w_y · (softmax(x)_c − [c = y]), gv per voxel, or gv[0] for all
//         voxels with GV_SCALAR (the mean's gradient g / Σ w_y)

struct Params {
  inner: u32,
  work: u32,        // outer · inner / VEC voxel groups
  ignore: i32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<vec4i>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> gv: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4f>;

override MODE: u32 = 0;
override C: u32 = 16;
override CACHED: bool = true;
override VEC: u32 = 4;
override WG: u32 = 64;
override PER: u32 = 4;
override GV_SCALAR: bool = false;

var<workgroup> partial: array<vec2f, WG>;

const MAXC = 32u;
alias Channels = array<vec4f, MAXC>;

fn ld_x(at: u32) -> vec4f {
  if (VEC == 4u) { return x[at >> 2u]; }
  return vec4f(x[at >> 2u][at & 3u]);
}
fn ld_label(at: u32) -> vec4i {
  if (VEC == 4u) { return labels[at >> 2u]; }
  return vec4i(labels[at >> 2u][at & 3u]);
}
fn ld_gv(at: u32) -> vec4f {
  if (GV_SCALAR) { return vec4f(gv[0].x); }
  if (VEC == 4u) { return gv[at >> 2u]; }
  return vec4f(gv[at >> 2u][at & 3u]);
}

fn class_weight(label: i32) -> f32 {
  if (label < 0 || label >= i32(C) || label == p.ignore) { return 0.0; }
  return weight[label];
}
fn weights(label: vec4i) -> vec4f {
  return vec4f(class_weight(label.x), class_weight(label.y), class_weight(label.z), class_weight(label.w));
}

struct Voxels {
  base: u32,    // element of channel 0
  voxel: u32,   // element of per-voxel maps
}

fn locate(g: u32) -> Voxels {
  let per = p.inner / VEC;
  let o = g / per;
  let i = (g - o * per) * VEC;
  return Voxels(o * C * p.inner + i, o * p.inner + i);
}

fn cache(base: u32) -> Channels {
  var v: Channels;
  if (CACHED) { for (var c = 0u; c < C; c++) { v[c] = ld_x(base + c * p.inner); } }
  return v;
}
fn logit(v: ptr<function, Channels>, base: u32, c: u32) -> vec4f {
  if (CACHED) { return (*v)[c]; }
  return ld_x(base + c * p.inner);
}

fn row_max(v: ptr<function, Channels>, base: u32) -> vec4f {
  var m = logit(v, base, 0u);
  for (var c = 1u; c < C; c++) { m = max(m, logit(v, base, c)); }
  return m;
}

// Unweighted cross-entropy of a voxel group; finite for any label (x_y = 0 when none matches).
fn voxel_ce(v: ptr<function, Channels>, base: u32, label: vec4i) -> vec4f {
  let m = row_max(v, base);
  var s = vec4f(0.0);
  var picked = vec4f(0.0);
  for (var c = 0u; c < C; c++) {
    let x = logit(v, base, c);
    s += exp(x - m);
    picked = select(picked, x, label == vec4i(i32(c)));
  }
  return m + log(s) - picked;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) groups: vec3u) {
  let wg = wid.x + wid.y * groups.x;
  if (MODE == 1u) {
    var acc = vec2f(0.0);
    for (var k = 0u; k < PER; k++) {
      let g = (wg * PER + k) * WG + lid;
      if (g < p.work) {
        let at = locate(g);
        let label = ld_label(at.voxel);
        let w = weights(label);
        var v = cache(at.base);
        let ce = voxel_ce(&v, at.base, label);
        let lanes = select(vec4f(1.0, 0.0, 0.0, 0.0), vec4f(1.0), VEC == 4u);
        acc += vec2f(dot(w * ce, lanes), dot(w, lanes));
      }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
      if (lid < half) { partial[lid] += partial[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { y[wg] = vec4f(partial[0], 0.0, 0.0); }
    return;
  }

  let g = wg * WG + lid;
  if (g >= p.work) { return; }
  let at = locate(g);
  let label = ld_label(at.voxel);
  let w = weights(label);
  var v = cache(at.base);
  if (MODE == 0u) {
    let ce = w * voxel_ce(&v, at.base, label);
    if (VEC == 4u) { y[at.voxel >> 2u] = ce; } else { y[at.voxel >> 2u][at.voxel & 3u] = ce.x; }
    return;
  }
  // MODE 2: recompute softmax and write the gradient of every channel.
  let m = row_max(&v, at.base);
  var s = vec4f(0.0);
  for (var c = 0u; c < C; c++) { s += exp(logit(&v, at.base, c) - m); }
  let scale = ld_gv(at.voxel) * w / s;
  let gw = ld_gv(at.voxel) * w;
  for (var c = 0u; c < C; c++) {
    let at_c = at.base + c * p.inner;
    let hit = select(vec4f(0.0), gw, label == vec4i(i32(c)));
    let gx = exp(logit(&v, at.base, c) - m) * scale - hit;
    if (VEC == 4u) { y[at_c >> 2u] = gx; } else { y[at_c >> 2u][at_c & 3u] = gx.x; }
  }
}
