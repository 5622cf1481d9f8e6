// The weight gradient's last step: sums the split-K partials P[split, row, kb, slot] of
// kernels/conv3d.wgsl (WGRAD) over the splits, in split order (deterministic, no float atomics),
// and writes them in the weight's own layout dW[row, kc, kd, kh, kw], one thread per weight.
// Before, a reduction over the splits and a strided copy out of the padded k-block layout were
// two to three dispatches per weight gradient (~250 per cpu-preset training iteration).
//
// The k-block of a weight (inverse of kernels/conv3d_pack.wgsl without SWAP/FLIP):
//   LOADER 1: kb = (kc * kd + d) * kh + h, slot = w
//   LOADER 2: kb = kc * kd + d, slot = 2 h + w
//   LOADER 0, 3: k = kc * taps + tap, kb = k / 4, slot = k % 4
// ACCUMULATE_W / ACCUMULATE_B add to dW / db: the later runs of a batch dispatched in runs over
// the binding limit, and a parameter's gradient from an earlier use (autograd accumulation).
// BIAS: threads e < rows also sum the bias gradient, which the WGRAD kernel left as a vec4 per
// (split, row) in the partials' last column, into db[e].
struct Params {
  rows: u32,
  kc: u32,
  kd: u32,
  kh: u32,
  kw: u32,
  splits: u32,
  rows_padded: u32,
  cols_padded: u32,   // k-block columns per row of the partials (the last one holds the bias sums with BIAS)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;   // a dummy without BIAS

override LOADER: u32 = 0;
override ACCUMULATE_W: bool = false;
override ACCUMULATE_B: bool = false;
override BIAS: bool = false;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let e = gid.x + gid.y * groups.x * WG;
  let taps = p.kd * p.kh * p.kw;
  let stride = p.rows_padded * p.cols_padded * 4u;
  if (BIAS && e < p.rows) {
    var b = 0.0;
    if (ACCUMULATE_B) { b = db[e]; }
    var bias_at = (e * p.cols_padded + p.cols_padded - 1u) * 4u;
    for (var i = 0u; i < p.splits; i++) {
      b += partials[bias_at] + partials[bias_at + 1u] + partials[bias_at + 2u] + partials[bias_at + 3u];
      bias_at += stride;
    }
    db[e] = b;
  }
  if (e >= p.rows * p.kc * taps) { return; }
  let tap = e % taps;
  let kc = (e / taps) % p.kc;
  let row = e / (taps * p.kc);
  let w = tap % p.kw;
  let h = (tap / p.kw) % p.kh;
  let d = tap / (p.kw * p.kh);
  var kb: u32;
  var slot: u32;
  switch LOADER {
    case 1u: { kb = (kc * p.kd + d) * p.kh + h; slot = w; }
    case 2u: { kb = kc * p.kd + d; slot = 2u * h + w; }
    default: { kb = (kc * taps + tap) / 4u; slot = (kc * taps + tap) % 4u; }
  }
  var at = (row * p.cols_padded + kb) * 4u + slot;
  var s = 0.0;
  if (ACCUMULATE_W) { s = out[e]; }
  for (var i = 0u; i < p.splits; i++) {
    s += partials[at];
    at += stride;
  }
  out[e] = s;
}
