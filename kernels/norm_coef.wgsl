// Normalisation coefficients from summed row statistics, one thread per statistics group:
// kernels/norm.wgsl reduces the rows and applies the coefficients; this kernel is the small step
// between, so a norm is three dispatches (chunk sums, coefficients, apply) instead of a chain of
// per-channel slices, expands, stacks and fills. It also sums each row's chunk partials (in chunk
// order: deterministic), which a separate reduction dispatch did before: one dispatch fewer per
// norm forward and backward (294 per cpu-preset training iteration, counted).
//
// Group g holds rows g·group_step + j·row_step, j < rows_per_group (instance norm: one (n, c)
// row; group norm: C/G consecutive rows; batch norm: rows c + j·C). Coefficient rows are one per
// data row (PER_ROW: instance and group norm) or one per group (batch norm, row' = channel); the
// affine parameters are indexed by channel = row % channels.
// Modes (override MODE):
//   0 FORWARD  s[row] = (Σ (x − K), Σ (x − K)², K, ·), the STATS partials of norm.wgsl summed
//              over the row's chunks (only chunk 0 carries K). Chan et al. combine the rows' (count, mean, M2) → μ, biased σ²;
//              rstd = 1/√(σ² + eps) (PyTorch: rsqrt(var + eps));
//              c[row'] = (μ, rstd·γ, β, rstd); with STATS also stats[g] = (μ, σ²).
//   1 BACKWARD s[row] = (Σ g, Σ g·x̂, ·, ·), the SUMS partials summed over chunks; f = the forward
//              coefficients. With M elements per group, A = Σ_rows γ·Σg / M, B = Σ_rows γ·Σg·x̂ / M
//              and dx = rstd·(γ·g − A − x̂·B) written as p·g + q·(x − μ) + s:
//              c[row'] = (μ, rstd·γ, −rstd²·B, −rstd·A).

struct Params {
  groups: u32,
  rows_per_group: u32,
  group_step: u32,
  row_step: u32,
  channels: u32,
  r: u32,            // elements per row
  eps: f32,
  group_size: f32,   // M = rows_per_group · r
  chunks: u32,       // partials per row: s is [rows, chunks] vec4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec4f>;
@group(0) @binding(2) var<storage, read> f: array<vec4f>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> stats: array<vec2f>;

override MODE: u32 = 0;
override GAMMA: bool = false;    // gamma is bound (else γ = 1)
override BETA: bool = false;     // beta is bound (else β = 0; the backward never reads β)
override PER_ROW: bool = true;
override STATS: bool = false;

fn row_of(g: u32, j: u32) -> u32 {
  return g * p.group_step + j * p.row_step;
}

// s[row]: the row's chunk partials summed in order.
fn s(row: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var i = 0u; i < p.chunks; i++) { v += partials[row * p.chunks + i]; }
  return v;
}

fn gamma_of(row: u32) -> f32 {
  if (GAMMA) { return gamma[row % p.channels]; }
  return 1.0;
}

fn beta_of(row: u32) -> f32 {
  if (BETA) { return beta[row % p.channels]; }
  return 0.0;
}

fn coef_rows() -> u32 {
  return select(1u, p.rows_per_group, PER_ROW);
}

fn coef_row(g: u32, j: u32) -> u32 {
  return select(g, row_of(g, j), PER_ROW);
}

fn forward(g: u32) {
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  let rn = f32(p.r);
  for (var j = 0u; j < p.rows_per_group; j++) {
    let v = s(row_of(g, j));
    let row_mean = v.z + v.x / rn;
    let row_m2 = max(v.y - v.x * v.x / rn, 0.0);
    let total = n + rn;
    let delta = row_mean - mean;
    mean += delta * rn / total;
    m2 += row_m2 + delta * delta * n * rn / total;
    n = total;
  }
  let variance = m2 / n;
  let rstd = 1.0 / sqrt(variance + p.eps);
  if (STATS) { stats[g] = vec2f(mean, variance); }
  for (var j = 0u; j < coef_rows(); j++) {
    let k = coef_row(g, j);
    c[k] = vec4f(mean, rstd * gamma_of(k), beta_of(k), rstd);
  }
}

fn backward(g: u32) {
  var a = 0.0;
  var b = 0.0;
  for (var j = 0u; j < p.rows_per_group; j++) {
    let row = row_of(g, j);
    let v = s(row);
    let w = gamma_of(row);
    a += w * v.x;
    b += w * v.y;
  }
  a /= p.group_size;
  b /= p.group_size;
  for (var j = 0u; j < coef_rows(); j++) {
    let k = coef_row(g, j);
    let fk = f[k];
    let rstd = fk.w;
    c[k] = vec4f(fk.x, rstd * gamma_of(k), -rstd * rstd * b, -rstd * a);
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let g = gid.x + gid.y * 65535u * 64u;
  if (g >= p.groups) { return; }
  if (MODE == 0u) { forward(g); } else { backward(g); }
}
