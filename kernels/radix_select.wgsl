// Deterministic top-K selection of n f32 values by radix select on order-preserving keys of their
// bits (larger float ⇒ larger key). Result: state = [T, cutoff, remaining, ...] such that exactly
// K values are selected by   key > T  or  (key == T and index < cutoff)   — ties at the K-th value
// are resolved by index, lowest first. Integer atomics only (counts are exact, so the result does
// not depend on scheduling); nothing is read back to the CPU.
//
// MODE 0 HIST    count keys matching the prefix found so far, by their next digit: a histogram in
//                workgroup memory, flushed (non-zero bins only) into the global hist
// MODE 1 FIND    one invocation: walk hist from the top bin down to the digit holding the
//                remaining K-th largest; extend the prefix; clear hist for the next pass
// MODE 2 TIES    per block of BLOCK = WG·PER consecutive values: how many have key == T
// MODE 3 CUTOFF  one invocation: find the block and then the index of the remaining-th tie

struct Params {
  n: u32,
  k: u32,          // K (read by the first FIND)
  shift: u32,      // digit position of this pass
  digit_mask: u32, // (1 << digit bits) − 1
  first: u32,      // 1 on the first pass: no prefix yet
  blocks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;   // [prefix/T, cutoff, remaining, mask]
@group(0) @binding(4) var<storage, read_write> ties: array<u32>;

override MODE: u32 = 0;
override WG: u32 = 64;
override PER: u32 = 16;
override BINS: u32 = 2048;

var<workgroup> local_hist: array<atomic<u32>, BINS>;
var<workgroup> local_ties: atomic<u32>;

fn order_key(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, v == 0.0);   // −0 ranks as +0, like torch.topk
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) groups: vec3u) {
  let wg = wid.x + wid.y * groups.x;
  let start = wg * WG * PER;

  if (MODE == 0u) {
    for (var b = lid; b < BINS; b += WG) { atomicStore(&local_hist[b], 0u); }
    workgroupBarrier();
    var prefix = 0u;
    var mask = 0u;
    if (p.first == 0u) {
      prefix = state[0];
      mask = state[3];
    }
    for (var k = 0u; k < PER; k++) {
      let i = start + k * WG + lid;
      if (i < p.n) {
        let key = order_key(values[i]);
        if ((key & mask) == prefix) { atomicAdd(&local_hist[(key >> p.shift) & p.digit_mask], 1u); }
      }
    }
    workgroupBarrier();
    for (var b = lid; b < BINS; b += WG) {
      let count = atomicLoad(&local_hist[b]);
      if (count > 0u) { atomicAdd(&hist[b], count); }
    }
    return;
  }

  if (MODE == 2u) {
    if (lid == 0u) { atomicStore(&local_ties, 0u); }
    workgroupBarrier();
    let t = state[0];
    var mine = 0u;
    for (var k = 0u; k < PER; k++) {
      let i = start + k * WG + lid;
      if (i < p.n && order_key(values[i]) == t) { mine++; }
    }
    if (mine > 0u) { atomicAdd(&local_ties, mine); }
    workgroupBarrier();
    if (lid == 0u) { ties[wg] = atomicLoad(&local_ties); }
    return;
  }

  // Modes without barriers come last: an early return of some lanes ends uniform control flow.
  if (MODE == 1u) {
    if (lid != 0u) { return; }
    var prefix = 0u;
    var mask = 0u;
    var remaining = p.k;
    if (p.first == 0u) {
      prefix = state[0];
      mask = state[3];
      remaining = state[2];
    }
    var above = 0u;
    var digit = 0u;
    for (var b = i32(p.digit_mask); b >= 0; b--) {
      let count = atomicLoad(&hist[u32(b)]);
      if (above + count >= remaining) { digit = u32(b); break; }
      above += count;
    }
    for (var b = 0u; b <= p.digit_mask; b++) { atomicStore(&hist[b], 0u); }
    state[0] = prefix | (digit << p.shift);
    state[3] = mask | (p.digit_mask << p.shift);
    state[2] = remaining - above;
    state[1] = 0u;
    return;
  }

  // MODE 3: the remaining ties are taken in index order.
  if (lid != 0u || wg != 0u) { return; }
  let t = state[0];
  let remaining = state[2];
  var before = 0u;
  var tie_block = 0u;
  loop {
    if (tie_block >= p.blocks || before + ties[tie_block] >= remaining) { break; }
    before += ties[tie_block];
    tie_block++;
  }
  var cutoff = p.n;
  let first = tie_block * WG * PER;
  let last = min(p.n, first + WG * PER);
  for (var i = first; i < last; i++) {
    if (order_key(values[i]) == t) {
      before++;
      if (before == remaining) { cutoff = i + 1u; break; }
    }
  }
  state[1] = cutoff;
}
