// Element type conversion (f32 <-> i32 <-> u32), value-preserving as WGSL's conversions are.
alias TI = f32;
alias TO = i32;

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<TI>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<TO>>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let g = gid.x + gid.y * groups.x * WG;
  if (g * 4u >= p.n) { return; }
  y[g] = vec4<TO>(x[g]);
}
