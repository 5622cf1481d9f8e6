// In-place parameter updates, one pass over each parameter (vec4 per lane).
//   OP 0, SGD as torch.optim.SGD(momentum, weight_decay, nesterov), dampening 0:
//         d = g + wd·p;  buf = first ? d : momentum·buf + d;  d = nesterov ? d + momentum·buf : buf;
//         p -= lr·d
//   OP 1, EMA (mean teacher): p = alpha·p + (1 − alpha)·src      (src bound to g; buf, ema unused)
//   OP 2, OP 0 and then the EMA of the updated parameter: ema = alpha·ema + (1 − alpha)·p — the
//         mean teacher's update after every student step, without a second pass (and dispatch)
//         that reads p again.
struct Params {
  n: u32,
  first: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> buf: array<vec4f>;
@group(0) @binding(3) var<storage, read> g: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> ema: array<vec4f>;

override OP: u32 = 0;
override NESTEROV: bool = true;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i * 4u >= p.n) { return; }
  if (OP == 1u) {
    param[i] = p.alpha * param[i] + (1.0 - p.alpha) * g[i];
    return;
  }
  var d = g[i] + p.weight_decay * param[i];
  var m = d;
  if (p.first == 0u) { m = p.momentum * buf[i] + d; }
  buf[i] = m;
  if (NESTEROV) { d = d + p.momentum * m; } else { d = m; }
  let updated = param[i] - p.lr * d;
  param[i] = updated;
  if (OP == 2u) { ema[i] = p.alpha * ema[i] + (1.0 - p.alpha) * updated; }
}
