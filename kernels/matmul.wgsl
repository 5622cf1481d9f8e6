// Batched C[b] = A[b] · B[b] (+ C_in) for row-major strided operands.
//
// Layout chosen for CPU-backed adapters (lavapipe maps each invocation to one SIMD lane): lanes
// own rows of C (TM rows each) and read A with per-lane vec4 loads along K; every workgroup owns a
// strip of TN columns, so B is read at workgroup-uniform addresses, which the driver turns into
// scalar broadcasts. That is the register-blocked SGEMM micro-kernel (rows in SIMD lanes, columns
// broadcast) expressed in WGSL. Requires K % 4 == 0 and A's K stride 1 (the host packs otherwise).
struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch: u32,
  a_batch: u32,      // element strides between batch items (0 = shared)
  b_batch: u32,
  a_row: u32,        // A[m, k] at a_row*m + k
  b_row: u32,        // B[k, n] at b_row*k + b_col*n
  b_col: u32,
  beta: f32,         // C = A·B + beta·C (beta 0 or 1: accumulate)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override WG: u32 = 64;
override TM: u32 = 1;
override TN: u32 = 8;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TN;
  let row0 = (wid.y * WG + lid) * TM;
  let batch = wid.z;
  // Fixed-size private arrays (WGSL forbids override-sized ones); loops bounded by the overrides
  // are unrolled at pipeline creation, so only TM*TN accumulators live in registers.
  var acc: array<f32, 32>;
  let a_base = batch * p.a_batch;
  let b_base = batch * p.b_batch + n0 * p.b_col;
  var rows: array<u32, 4>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, p.m - 1u); }
  for (var k = 0u; k < p.k; k += 4u) {
    for (var i = 0u; i < TM; i++) {
      let av = a[(a_base + rows[i] * p.a_row + k) / 4u];
      for (var kk = 0u; kk < 4u; kk++) {
        let bk = b_base + (k + kk) * p.b_row;
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(av[kk], b[bk + min(j, p.n - 1u - n0) * p.b_col], acc[i * TN + j]);
        }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= p.m) { break; }
    let out = batch * p.m * p.n + r * p.n + n0;
    for (var j = 0u; j < TN; j++) {
      if (n0 + j < p.n) {
        if (p.beta != 0.0) { c[out + j] += acc[i * TN + j]; } else { c[out + j] = acc[i * TN + j]; }
      }
    }
  }
}
