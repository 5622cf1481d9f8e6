// The weight gradient's last step: sums the split-K partials P[split, row, kb] (vec4 over the
// k-block's slots) of kernels/conv3d.wgsl (WGRAD) over the splits, in split order (deterministic,
// no float atomics), and writes them in the weight's own layout dW[row, kc, kd, kh, kw]. One
// thread per (row, k-block): every loader's k-blocks enumerate the weight's (kc, tap) in order
// (kernels/conv3d_pack.wgsl without SWAP/FLIP), so the k-block's slots land at
//   LOADER 1: dW[(row * k_blocks + kb) * 3 + slot], slot < 3 (kw taps)
//   LOADER 2: dW[(row * k_blocks + kb) * 4 + slot] (kh, kw pairs)
//   LOADER 0, 3: dW[row * K + 4 kb + slot], 4 kb + slot < K = kc * taps
// Before, a reduction over the splits and a strided copy out of the padded layout were two to
// three dispatches per weight gradient.
// ACCUMULATE_W / ACCUMULATE_B add to dW / db: the later runs of a batch dispatched in runs over
// the binding limit, and a parameter's gradient from an earlier use (autograd accumulation).
// BIAS: the WGRAD kernel also left Σ G per (split, row) in the partials' last column (a vec4 over
// voxel slots); threads with kb == 0 sum it into db[row].
struct Params {
  rows: u32,
  k_blocks: u32,
  k: u32,             // kc * taps
  splits: u32,
  rows_padded: u32,
  cols_padded: u32,   // k-block columns per row of the partials (the last one holds the bias sums with BIAS)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;   // a dummy without BIAS

override LOADER: u32 = 0;
override ACCUMULATE_W: bool = false;
override ACCUMULATE_B: bool = false;
override BIAS: bool = false;
override WG: u32 = 64;

// Σ over splits of the partials' vec4 at (row, column), in split order.
fn split_sum(row: u32, column: u32) -> vec4f {
  let stride = p.rows_padded * p.cols_padded;
  var at = row * p.cols_padded + column;
  var s = vec4f(0.0);
  for (var i = 0u; i < p.splits; i++) {
    s += partials[at];
    at += stride;
  }
  return s;
}

fn store(e: u32, v: f32) {
  if (ACCUMULATE_W) { out[e] += v; } else { out[e] = v; }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = gid.x + gid.y * groups.x * WG;
  if (t >= p.rows * p.k_blocks) { return; }
  let row = t / p.k_blocks;
  let kb = t - row * p.k_blocks;
  let v = split_sum(row, kb);
  switch LOADER {
    case 1u: {
      let e = t * 3u;
      store(e, v.x); store(e + 1u, v.y); store(e + 2u, v.z);
    }
    case 2u: {
      let e = t * 4u;
      store(e, v.x); store(e + 1u, v.y); store(e + 2u, v.z); store(e + 3u, v.w);
    }
    default: {
      for (var s = 0u; s < 4u; s++) {
        if (4u * kb + s < p.k) { store(row * p.k + 4u * kb + s, v[s]); }
      }
    }
  }
  if (BIAS && kb == 0u) {
    let b = dot(split_sum(row, p.cols_padded - 1u), vec4f(1.0));
    if (ACCUMULATE_B) { db[row] += b; } else { db[row] = b; }
  }
}
