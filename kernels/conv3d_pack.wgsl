// Packs a convolution weight tensor into the k-block layout kernels/conv3d.wgsl reads:
//   out[(kb * rows_padded + row) * 4 + slot] = A[row, k-block kb, slot]   (0 where unused)
// The k-block of each loader groups the reduction index (kc, tap) as kernels/conv3d.wgsl expects:
//   LOADER 0: k = 4 kb + slot, (kc, tap) = (k / taps, k % taps)
//   LOADER 1: kb = (kc * kd + d) * kh + h, slot = w (< 3)
//   LOADER 2: kb = kc * kd + d, slot = 2 h + w
//   LOADER 3: kc = 4 kb + slot, tap = 0
// The source is W[row, kc, tap] (SWAP false: a convolution's [Cout, Cin, k...]) or W[kc, row, tap]
// (SWAP true: a transposed convolution's [Cin, Cout, k...], or a convolution read for its input
// gradient), with the taps reversed when FLIP (the input gradient of a stride-1 convolution is a
// convolution with the flipped kernel).
struct Params {
  rows: u32,
  rows_padded: u32,
  k_blocks: u32,
  kc: u32,          // reduction channels
  kd: u32,
  kh: u32,
  kw: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override LOADER: u32 = 0;
override SWAP: bool = false;
override FLIP: bool = false;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let e = gid.x + gid.y * groups.x * WG;
  if (e >= p.k_blocks * p.rows_padded * 4u) { return; }
  let slot = e % 4u;
  let row = (e / 4u) % p.rows_padded;
  let kb = e / (4u * p.rows_padded);
  let taps = p.kd * p.kh * p.kw;
  var kc: u32;
  var tap: u32;
  var used = true;
  switch LOADER {
    case 1u: {
      kc = kb / (p.kd * p.kh);
      tap = (kb % (p.kd * p.kh)) * p.kw + slot;
      used = slot < p.kw;
    }
    case 2u: {
      kc = kb / p.kd;
      tap = (kb % p.kd) * 4u + slot;
    }
    case 3u: {
      kc = 4u * kb + slot;
      tap = 0u;
    }
    default: {
      kc = (4u * kb + slot) / taps;
      tap = (4u * kb + slot) % taps;
    }
  }
  var value = 0.0;
  if (used && row < p.rows && kc < p.kc) {
    let t = select(tap, taps - 1u - tap, FLIP);
    let src = select((row * p.kc + kc) * taps + t, (kc * p.rows + row) * taps + t, SWAP);
    value = w[src];
  }
  out[e] = value;
}
