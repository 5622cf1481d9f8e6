// Batched GEMM C[b] = A[b]·B[b], register-blocked with subgroup shuffles.
//
// Why this shape (measurements in docs/kernels-lavapipe.md): Mesa 25.0's llvmpipe turns every
// storage-buffer load whose offset is not a compile-time constant into a per-lane loop (exec-mask
// test, bounds test, scalar load, insert: ~200 instructions per 8-lane vec4 load), while register
// math and subgroupShuffle (one vpermd) are cheap. So the kernel minimises loads per FMA: one
// workgroup is one subgroup of LANES invocations (8 = one AVX2 vector on lavapipe); each lane owns
// 4 columns of C (a vec4) and TM rows. Every 4-wide K step loads 4 vec4 of B per lane (distinct per
// lane) and TM / LANES vec4 of A per lane, and hands the A values to every lane with
// subgroupShuffle, so a loaded vec4 feeds TM (B) or 4 * LANES (A) vector FMAs. On a GPU the same
// shape is a warp-level register-blocked GEMM (LANES = the subgroup size).
//
// A may be stored [M, K] or transposed [K, M] (A_T), B [K, N] or [N, K] (B_T): each variant reads
// 4 vec4 per lane per operand block and rearranges in registers, so the VJPs need no copies.
// Requirements (checked by src/ops/matmul.ts): K, the strides and offsets multiples of 4;
// N % 4 == 0 unless B_T; M % 4 == 0 when A_T. M and N tails are clamped on load, masked on store.
enable subgroups;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  a_offset: u32,   // elements; batch item b starts at offset + b * batch stride
  b_offset: u32,
  c_offset: u32,
  a_batch: u32,    // 0 broadcasts the operand over the batch
  b_batch: u32,
  c_batch: u32,
  a_stride: u32,   // A[m, k] at m * a_stride + k (or k * a_stride + m when A_T)
  b_stride: u32,   // B[k, n] at k * b_stride + n (or n * b_stride + k when B_T)
  c_stride: u32,   // C[m, n] at m * c_stride + n
  n_store: u32,    // columns of C written (n may include padding of B's storage)
  m_load: u32,     // A_T: rows of A's storage (a multiple of 4; m may be smaller)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override LANES: u32 = 8;           // workgroup size = subgroup size; multiple of 4, <= 32
override GROUPS: u32 = 4;          // TM = GROUPS * LANES rows of C per workgroup (1..4)
override A_T: bool = false;
override B_T: bool = false;

// Mesa unrolls a loop only when trip count x body size <= 32 x 26 NIR instructions, and a private
// array indexed by a loop counter that is not unrolled lives in scratch memory (a per-lane gather
// for every access). So accumulators are groups of LANES rows, each group a separately named
// array handled by helpers whose loops are small enough to unroll.
alias Rows = array<vec4f, 32>;
alias Block4 = array<vec4f, 4>;

struct Tile {
  m0: u32,
  col: u32,       // this lane's first column
  lane: u32,
  a_base: u32,
  b_base: u32,
}

// acc[l] += A[row l of the group, k0..k0+3] . bk, where lane l holds that row's 4 K values in av.
fn accumulate(acc: ptr<function, Rows>, av: vec4f, bk: Block4) {
  for (var l = 0u; l < LANES; l++) {
    let s = subgroupShuffle(av, l);
    (*acc)[l] += s.x * bk[0] + s.y * bk[1] + s.z * bk[2] + s.w * bk[3];
  }
}

// Transposed A: lane l holds at[kk] = A[k0 + kk, m0 + 4l .. 4l + 3]; group g (rows g*LANES ..)
// comes from lanes g*LANES/4 .. (g+1)*LANES/4 - 1, four rows each.
fn accumulate_t(acc: ptr<function, Rows>, at: Block4, g: u32, bk: Block4) {
  for (var h = 0u; h < LANES / 4u; h++) {
    let src = g * LANES / 4u + h;
    let s0 = subgroupShuffle(at[0], src);
    let s1 = subgroupShuffle(at[1], src);
    let s2 = subgroupShuffle(at[2], src);
    let s3 = subgroupShuffle(at[3], src);
    for (var i = 0u; i < 4u; i++) {
      (*acc)[4u * h + i] += s0[i] * bk[0] + s1[i] * bk[1] + s2[i] * bk[2] + s3[i] * bk[3];
    }
  }
}

// bk[kk] = B[k0 + kk, col .. col + 3].
fn load_b(t: Tile, k0: u32) -> Block4 {
  var bk: Block4;
  if (B_T) {
    var bt: Block4;
    for (var j = 0u; j < 4u; j++) { bt[j] = b[(t.b_base + min(t.col + j, p.n - 1u) * p.b_stride + k0) / 4u]; }
    for (var kk = 0u; kk < 4u; kk++) { bk[kk] = vec4f(bt[0][kk], bt[1][kk], bt[2][kk], bt[3][kk]); }
  } else {
    let col = min(t.col, p.n - 4u);
    for (var kk = 0u; kk < 4u; kk++) { bk[kk] = b[(t.b_base + (k0 + kk) * p.b_stride + col) / 4u]; }
  }
  return bk;
}

// This lane's row of group g: A[m0 + g*LANES + lane, k0 .. k0 + 3].
fn load_a(t: Tile, g: u32, k0: u32) -> vec4f {
  return a[(t.a_base + min(t.m0 + g * LANES + t.lane, p.m - 1u) * p.a_stride + k0) / 4u];
}

// Transposed A: at[kk] = A[k0 + kk, m0 + 4 lane .. + 3].
fn load_a_t(t: Tile, k0: u32) -> Block4 {
  var at: Block4;
  let r = min(t.m0 + 4u * t.lane, p.m_load - 4u);
  for (var kk = 0u; kk < 4u; kk++) { at[kk] = a[(t.a_base + (k0 + kk) * p.a_stride + r) / 4u]; }
  return at;
}

fn step(acc: ptr<function, Rows>, t: Tile, g: u32, k0: u32, at: Block4, bk: Block4) {
  if (A_T) { accumulate_t(acc, at, g, bk); } else { accumulate(acc, load_a(t, g, k0), bk); }
}

fn store(t: Tile, g: u32, acc: Rows, c_base: u32) {
  for (var i = 0u; i < LANES; i++) {
    let row = t.m0 + g * LANES + i;
    for (var j = 0u; j < 4u; j++) {
      if (row < p.m && t.col + j < p.n_store) {
        let at = c_base + row * p.c_stride + t.col + j;
        c[at] = acc[i][j];
      }
    }
  }
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let t = Tile(wid.y * GROUPS * LANES, (wid.x * LANES + lane) * 4u, lane, p.a_offset + wid.z * p.a_batch, p.b_offset + wid.z * p.b_batch);
  var acc0: Rows;
  var acc1: Rows;
  var acc2: Rows;
  var acc3: Rows;
  for (var k0 = 0u; k0 < p.k; k0 += 4u) {
    let bk = load_b(t, k0);
    var at: Block4;
    if (A_T) { at = load_a_t(t, k0); }
    step(&acc0, t, 0u, k0, at, bk);
    if (GROUPS > 1u) { step(&acc1, t, 1u, k0, at, bk); }
    if (GROUPS > 2u) { step(&acc2, t, 2u, k0, at, bk); }
    if (GROUPS > 3u) { step(&acc3, t, 3u, k0, at, bk); }
  }
  let c_base = p.c_offset + wid.z * p.c_batch;
  store(t, 0u, acc0, c_base);
  if (GROUPS > 1u) { store(t, 1u, acc1, c_base); }
  if (GROUPS > 2u) { store(t, 2u, acc2, c_base); }
  if (GROUPS > 3u) { store(t, 3u, acc3, c_base); }
}
