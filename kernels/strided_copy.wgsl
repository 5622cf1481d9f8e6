// y[out_offset + Σ c_d·out_stride_d] = x[in_offset + Σ c_d·in_stride_d] for every coordinate c of
// an iteration shape: permute, slice, expand (stride 0), concat (into a region of y) and pad (into
// the interior of a pre-filled y) are all this one gather/scatter. Element type only moves, so
// every dtype uses the u32 view; E = vec4<u32> moves 4 elements per index computation when the
// innermost dim is contiguous on both sides and every offset and stride is a multiple of 4 (the
// host then passes dims, strides and offsets in vec4 units): on llvmpipe the per-element
// division chain below, not memory, bounds this kernel.
alias E = u32;
alias F = f32;     // E's f32 view (vec4f for vec4<u32>), for ACCUMULATE
struct Params {
  n: u32,
  rank: u32,
  in_offset: u32,
  out_offset: u32,
  dims: array<vec4u, 2>,
  in_stride: array<vec4u, 2>,
  out_stride: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<E>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;

override WG: u32 = 64;
override PER: u32 = 4;
override OUT_CONTIGUOUS: bool = true;   // out offset = out_offset + linear index (skip its index math)
override ACCUMULATE: bool = false;      // y += x as f32 (a slice's gradient added into the gradient so far)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) groups: vec3u) {
  let first = (wid.x + wid.y * groups.x) * WG * PER;
  for (var k = 0u; k < PER; k++) {
    let e = first + k * WG + lid;
    if (e >= p.n) { return; }
    var rem = e;
    var src = p.in_offset;
    var dst = p.out_offset;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
      let j = u32(d);
      let size = p.dims[j / 4u][j % 4u];
      let coord = rem % size;
      rem = rem / size;
      src += coord * p.in_stride[j / 4u][j % 4u];
      dst += coord * p.out_stride[j / 4u][j % 4u];
    }
    if (OUT_CONTIGUOUS) { dst = p.out_offset + e; }
    if (ACCUMULATE) {
      y[dst] = bitcast<E>(bitcast<F>(y[dst]) + bitcast<F>(x[src]));
    } else {
      y[dst] = x[src];
    }
  }
}
