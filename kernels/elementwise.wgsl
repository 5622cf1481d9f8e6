// Elementwise family: unary, binary and ternary (where) ops with NumPy broadcasting.
//
// The output is viewed as [rows, last] (collapsed dims; `last` is the innermost). Workgroups are
// laid out as x = chunks of the last dim, y/z = rows, so an input's row offset depends only on the
// workgroup id: one integer division chain per workgroup instead of one per element (on lavapipe
// u32 division is scalarised lane by lane). Each invocation writes PER groups of 4 consecutive
// outputs with vec4 stores: a vec4 per lane costs about what a scalar does there.
//
// Inputs are read in one of three modes, chosen by the host per input (override MODE_A/B/C):
//   0 = contiguous along the last dim (vec4 loads), 1 = broadcast along the last dim (one scalar
//   splat), 2 = gather: per-element index math over all dims. When the last dim is not a multiple
//   of 4 the host dispatches the output as one row (rows = 1, last = n): contiguous inputs stay in
//   mode 0, fully broadcast ones in mode 1, and the rest gather.
// Tensor buffers are allocated in 256-byte buckets, so a partial last vec4 lands in padding.
// Over the binding limit the host dispatches runs of rows: row0 is the run's first row, y is bound
// at it, and each input is bound from element `origin` on (src/ops/chunks.ts splitOuter).
alias T = f32;

struct Params {
  last: u32,           // elements in the innermost collapsed dim
  rows: u32,           // product of the other collapsed dims
  rank: u32,           // number of collapsed dims (1..8)
  rows_y: u32,         // workgroups along y (rows are split over y and z)
  alpha: f32,          // op scalars (leaky slope, clamp bounds, pow exponent, scale/shift)
  beta: f32,
  row0: u32,           // first row of this run (global row = row0 + local row)
  origin_a: u32,       // element of a, b, c at which their bindings start
  origin_b: u32,
  origin_c: u32,
  dims: array<vec4u, 2>,     // collapsed output dims, outermost first
  stride_a: array<vec4u, 2>, // per input: element stride of each output dim (0 = broadcast)
  stride_b: array<vec4u, 2>,
  stride_c: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> c: array<vec4<T>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<T>>;

override OP: u32 = 0;
override MODE_A: u32 = 0;
override MODE_B: u32 = 0;
override MODE_C: u32 = 0;
override WG: u32 = 64;
override PER: u32 = 4;

fn stride(s: array<vec4u, 2>, d: u32) -> u32 { return s[d / 4u][d % 4u]; }

// Offsets of a, b, c for element `col` of row `row` (row-major over the collapsed dims).
fn offsets(row: u32, col: u32) -> vec3u {
  let l = p.rank - 1u;
  var off = col * vec3u(stride(p.stride_a, l), stride(p.stride_b, l), stride(p.stride_c, l));
  var rem = row;
  for (var d = i32(l) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = p.dims[k / 4u][k % 4u];
    let coord = rem % size;
    rem = rem / size;
    off += coord * vec3u(stride(p.stride_a, k), stride(p.stride_b, k), stride(p.stride_c, k));
  }
  return off;
}

// Offsets of element e (row-major linear index over all collapsed dims): the gather mode.
fn offsets_linear(e: u32) -> vec3u {
  var rem = e;
  var off = vec3u(0u);
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let size = p.dims[k / 4u][k % 4u];
    off += (rem % size) * vec3u(stride(p.stride_a, k), stride(p.stride_b, k), stride(p.stride_c, k));
    rem = rem / size;
  }
  return off;
}

fn scalar_a(o: u32) -> T { return a[o >> 2u][o & 3u]; }
fn scalar_b(o: u32) -> T { return b[o >> 2u][o & 3u]; }
fn scalar_c(o: u32) -> T { return c[o >> 2u][o & 3u]; }

// `row` is global; `base` is already relative to the operand's binding.
fn load_a(row: u32, col: u32, base: u32) -> vec4<T> {
  if (MODE_A == 0u) { return a[(base + col) >> 2u]; }
  if (MODE_A == 1u) { return vec4<T>(scalar_a(base)); }
  let e = row * p.last + col;
  let o = p.origin_a;
  return vec4<T>(scalar_a(offsets_linear(e).x - o), scalar_a(offsets_linear(e + 1u).x - o), scalar_a(offsets_linear(e + 2u).x - o), scalar_a(offsets_linear(e + 3u).x - o));
}
fn load_b(row: u32, col: u32, base: u32) -> vec4<T> {
  if (MODE_B == 0u) { return b[(base + col) >> 2u]; }
  if (MODE_B == 1u) { return vec4<T>(scalar_b(base)); }
  let e = row * p.last + col;
  let o = p.origin_b;
  return vec4<T>(scalar_b(offsets_linear(e).y - o), scalar_b(offsets_linear(e + 1u).y - o), scalar_b(offsets_linear(e + 2u).y - o), scalar_b(offsets_linear(e + 3u).y - o));
}
fn load_c(row: u32, col: u32, base: u32) -> vec4<T> {
  if (MODE_C == 0u) { return c[(base + col) >> 2u]; }
  if (MODE_C == 1u) { return vec4<T>(scalar_c(base)); }
  let e = row * p.last + col;
  let o = p.origin_c;
  return vec4<T>(scalar_c(offsets_linear(e).z - o), scalar_c(offsets_linear(e + 1u).z - o), scalar_c(offsets_linear(e + 2u).z - o), scalar_c(offsets_linear(e + 3u).z - o));
}

fn f(x: vec4<T>) -> vec4f { return vec4f(x); }
fn t(x: vec4f) -> vec4<T> { return vec4<T>(x); }
fn mask(cond: vec4<bool>) -> vec4<T> { return select(vec4<T>(T(0)), vec4<T>(T(1)), cond); }

// Ops 0-31 unary (x = a), 32-63 binary (a op b), 64+ ternary. Ids mirror src/ops/elementwise.ts.
fn apply(x: vec4<T>, u: vec4<T>, v: vec4<T>) -> vec4<T> {
  switch OP {
    case 0u: { return x; }                                               // copy
    case 1u: { return vec4<T>(T(0)) - x; }                               // neg
    case 2u: { return t(exp(f(x))); }                                    // exp
    case 3u: { return t(log(f(x))); }                                    // log
    case 4u: { return t(sqrt(f(x))); }                                   // sqrt
    case 5u: { return abs(x); }                                          // abs
    case 6u: { return max(x, vec4<T>(T(0))); }                           // relu
    case 7u: { return t(1.0 / (1.0 + exp(-f(x)))); }                     // sigmoid
    case 8u: { return t(tanh(f(x))); }                                   // tanh
    case 9u: { return select(t(f(x) * p.alpha), x, x > vec4<T>(T(0))); } // leaky_relu(alpha)
    case 10u: { return t(pow(f(x), vec4f(p.alpha))); }                   // pow by scalar alpha (x >= 0)
    case 11u: { return clamp(x, vec4<T>(T(p.alpha)), vec4<T>(T(p.beta))); } // clamp(alpha, beta)
    case 12u: { return t(sign(f(x))); }                                  // sign
    case 13u: { return t(f(x) * p.alpha + p.beta); }                     // affine: alpha*x + beta
    case 14u: { return t(1.0 / f(x)); }                                  // reciprocal
    case 15u: { return x * x; }                                          // square
    case 16u: { return mask(x > vec4<T>(T(0))); }                        // step: x > 0
    case 17u: { return t(select(vec4f(p.alpha), vec4f(1.0), x > vec4<T>(T(0)))); } // leaky slope
    case 32u: { return x + u; }                                          // add
    case 33u: { return x - u; }                                          // sub
    case 34u: { return x * u; }                                          // mul
    case 35u: { return x / u; }                                          // div
    case 36u: { return max(x, u); }                                      // maximum
    case 37u: { return min(x, u); }                                      // minimum
    case 38u: { return t(pow(f(x), f(u))); }                             // pow
    case 39u: { return mask(x == u); }                                   // eq
    case 40u: { return mask(x != u); }                                   // ne
    case 41u: { return mask(x < u); }                                    // lt
    case 42u: { return mask(x <= u); }                                   // le
    case 43u: { return mask(x > u); }                                    // gt
    case 44u: { return mask(x >= u); }                                   // ge
    case 45u: { return t(f(x) * p.alpha + f(u) * p.beta); }              // alpha*a + beta*b
    case 64u: { return select(v, u, x != vec4<T>(T(0))); }               // where(a, b, c)
    case 65u: { return x + u * v; }                                      // a + b*c (fused multiply-add)
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y + wid.z * p.rows_y;     // within this run
  if (row >= p.rows) { return; }
  // Row base offsets from workgroup-uniform values only (see the header).
  let global = p.row0 + row;
  let base = offsets(global, 0u) - vec3u(p.origin_a, p.origin_b, p.origin_c);
  let first = wid.x * WG * PER;
  for (var k = 0u; k < PER; k++) {
    let g = first + k * WG + lid;           // vec4 group within the row
    let col = g * 4u;
    if (col >= p.last) { return; }
    y[(row * p.last + col) >> 2u] = apply(load_a(global, col, base.x), load_b(global, col, base.y), load_c(global, col, base.z));
  }
}
