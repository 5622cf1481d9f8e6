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
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

override LOADER: u32 = 0;
override SWAP: bool = false;
override FLIP: bool = false;
override WG: u32 = 64;

// W[row, kc, tap] (or W[kc, row, tap] when SWAP), 0 outside.
fn weight(row: u32, kc: u32, tap: u32, used: bool) -> f32 {
  let taps = p.kd * p.kh * p.kw;
  if (!used || row >= p.rows || kc >= p.kc) { return 0.0; }
  let t = select(tap, taps - 1u - tap, FLIP);
  return w[select((row * p.kc + kc) * taps + t, (kc * p.rows + row) * taps + t, SWAP)];
}

// One thread per packed vec4 (k-block kb, row): row runs fastest, so neighbouring lanes write
// neighbouring vec4s.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let e = gid.x + gid.y * groups.x * WG;
  if (e >= p.k_blocks * p.rows_padded) { return; }
  let row = e % p.rows_padded;
  let kb = e / p.rows_padded;
  var v: vec4f;
  switch LOADER {
    case 1u: {
      let kc = kb / (p.kd * p.kh);
      let tap0 = (kb % (p.kd * p.kh)) * p.kw;
      v = vec4f(weight(row, kc, tap0, true), weight(row, kc, tap0 + 1u, p.kw > 1u), weight(row, kc, tap0 + 2u, p.kw > 2u), 0.0);
    }
    case 2u: {
      let kc = kb / p.kd;
      let tap0 = (kb % p.kd) * 4u;
      v = vec4f(weight(row, kc, tap0, true), weight(row, kc, tap0 + 1u, true), weight(row, kc, tap0 + 2u, true), weight(row, kc, tap0 + 3u, true));
    }
    case 3u: {
      v = vec4f(weight(row, 4u * kb, 0u, true), weight(row, 4u * kb + 1u, 0u, true), weight(row, 4u * kb + 2u, 0u, true), weight(row, 4u * kb + 3u, 0u, true));
    }
    default: {
      let taps = p.kd * p.kh * p.kw;
      for (var s = 0u; s < 4u; s++) {
        let k = 4u * kb + s;
        v[s] = weight(row, k / taps, k % taps, true);
      }
    }
  }
  out[e] = v;
}
