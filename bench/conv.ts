import { engine } from '../src/gpu/engine.js';
import type { PooledBuffer } from '../src/gpu/pool.js';
import * as T from '../src/index.js';
import { backward } from '../src/autograd/graph.js';
import { engine as gpu } from '../src/gpu/engine.js';
import { adapterName, timeGpu, type BenchRow } from './harness.js';
import { ortSeconds, timeClean, torchAvailable, torchSeconds, type OrtNode, type PeerResult, type Timed, type TorchCase } from './peers.js';

/**
 * V-Net's convolution layers (batch 2) and instance norm, each as forward, grad-input, grad-weight
 * and forward+backward, next to onnxruntime-node's CPU and WebGPU execution providers (forward
 * only: inference runtime) and PyTorch on the CPU, all in the same run. GFLOP/s count 2·MAC of
 * the direct convolution; norms report GB/s of the minimal traffic (read x, write y; backward
 * reads dy and x, writes dx). `extraMB` is the peak of device memory an op allocates beyond its
 * output (no unfolded input is ever materialised). Every figure is the fastest run during which
 * other processes used < 15% of the CPUs (peers.ts: timeClean), benchmark.js's mean when no run
 * was clean; `busy` is the share others used during the reported run.
 */

/** benchmark.js mean, then clean runs (peers.ts) to see through other processes' load. */
async function measure(name: string, step: () => void): Promise<Timed> {
  const seconds = await timeGpu(name, step, { maxTime: 1, minSamples: 2 });
  const clean = await timeClean(async () => {
    step();
    await gpu().sync();
  });
  return clean.others < 0.15 || clean.seconds < seconds ? clean : { seconds, others: clean.others };
}

interface ConvCase {
  name: string;
  transposed: boolean;
  cin: number;
  cout: number;
  size: number;
  kernel: number;
  stride: number;
  pad: number;
}

const N = 2;

export const CONV_CASES: ConvCase[] = [
  { name: 'conv 8->8 k3 64³ (cpu preset)', transposed: false, cin: 8, cout: 8, size: 64, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 1->16 k3 96³', transposed: false, cin: 1, cout: 16, size: 96, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 16->16 k3 96³', transposed: false, cin: 16, cout: 16, size: 96, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 32->32 k3 48³', transposed: false, cin: 32, cout: 32, size: 48, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 64->64 k3 24³', transposed: false, cin: 64, cout: 64, size: 24, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 128->128 k3 12³', transposed: false, cin: 128, cout: 128, size: 12, kernel: 3, stride: 1, pad: 1 },
  { name: 'conv 256->256 k3 6³', transposed: false, cin: 256, cout: 256, size: 6, kernel: 3, stride: 1, pad: 1 },
  { name: 'down 16->32 k2 s2 96³->48³', transposed: false, cin: 16, cout: 32, size: 96, kernel: 2, stride: 2, pad: 0 },
  { name: 'up convT 32->16 k2 s2 48³->96³', transposed: true, cin: 32, cout: 16, size: 48, kernel: 2, stride: 2, pad: 0 },
];

const PASSES = ['forward', 'grad-input', 'grad-weight', 'forward+backward'] as const;
type Pass = (typeof PASSES)[number];

function outSize(c: ConvCase): number {
  return c.transposed ? (c.size - 1) * c.stride - 2 * c.pad + c.kernel : Math.floor((c.size + 2 * c.pad - c.kernel) / c.stride) + 1;
}

/** 2·MAC of one pass (forward+backward: three). */
function flops(c: ConvCase, pass: Pass): number {
  const vox = (c.transposed ? c.size : outSize(c)) ** 3;
  const one = 2 * N * c.cin * c.cout * c.kernel ** 3 * vox;
  return pass === 'forward+backward' ? 3 * one : one;
}

/** Peak bytes allocated (and not yet freed) while `fn` runs, less what it returns. */
function extraBytes(fn: () => T.Tensor[]): number {
  const e = engine();
  const alloc = e.alloc.bind(e);
  const free = e.free.bind(e);
  const sizes = new Map<PooledBuffer, number>();
  let live = 0;
  let peak = 0;
  e.alloc = (bytes: number) => {
    const buffer = alloc(bytes);
    sizes.set(buffer, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return buffer;
  };
  e.free = (buffer: PooledBuffer) => {
    live -= sizes.get(buffer) ?? 0;
    sizes.delete(buffer);
    free(buffer);
  };
  let kept = 0;
  try {
    const outs = fn();
    kept = outs.reduce((s, t) => s + t.byteLength, 0);
    for (const t of outs) t.dispose();
  } finally {
    e.alloc = alloc;
    e.free = free;
  }
  return Math.max(0, peak - kept);
}

interface Operands {
  x: T.Tensor;
  w: T.Tensor;
  b: T.Tensor;
  gy: T.Tensor;
}

function operands(c: ConvCase): Operands {
  const o = outSize(c);
  const wShape = c.transposed ? [c.cin, c.cout, c.kernel, c.kernel, c.kernel] : [c.cout, c.cin, c.kernel, c.kernel, c.kernel];
  return {
    x: T.keep(T.randn([N, c.cin, c.size, c.size, c.size], 0, 1, { seed: 1 })),
    w: T.keep(T.randn(wShape, 0, 0.1, { seed: 2 })),
    b: T.keep(T.randn([c.cout], 0, 0.1, { seed: 3 })),
    gy: T.keep(T.randn([N, c.cout, o, o, o], 0, 1, { seed: 4 })),
  };
}

/** One pass of tak-wgpu, returning what it produced. */
function ours(c: ConvCase, pass: Pass, t: Operands): T.Tensor[] {
  const opts = { stride: c.stride, padding: c.pad };
  const k = c.kernel;
  switch (pass) {
    case 'forward':
      return [T.noGrad(() => (c.transposed ? T.convTranspose3d(t.x, t.w, t.b, opts) : T.conv3d(t.x, t.w, t.b, opts)))];
    case 'grad-input':
      // A transposed convolution's input gradient is the strided convolution of dy.
      return [T.noGrad(() => (c.transposed ? T.conv3d(t.gy, t.w, null, opts) : T.conv3dInput(t.x.shape, t.w, t.gy, opts)))];
    case 'grad-weight':
      return [T.noGrad(() => (c.transposed ? T.conv3dWeight(t.gy, [c.cin, c.cout, k, k, k], t.x, opts) : T.conv3dWeight(t.x, t.w.shape, t.gy, opts)))];
    default: {
      for (const p of [t.x, t.w, t.b]) p.requiresGrad = true;
      const y = c.transposed ? T.convTranspose3d(t.x, t.w, t.b, opts) : T.conv3d(t.x, t.w, t.b, opts);
      backward(y, t.gy);
      y.dispose();
      const grads = [t.x.grad!, t.w.grad!, t.b.grad!];
      for (const p of [t.x, t.w, t.b]) {
        p.grad = null;
        p.requiresGrad = false;
      }
      return grads;
    }
  }
}

function ortNode(c: ConvCase): OrtNode {
  const k = c.kernel;
  const o = outSize(c);
  return {
    op: c.transposed ? 'ConvTranspose' : 'Conv',
    inputs: [{ name: 'x', shape: [N, c.cin, c.size, c.size, c.size] }],
    initializers: [
      { name: 'w', shape: c.transposed ? [c.cin, c.cout, k, k, k] : [c.cout, c.cin, k, k, k] },
      { name: 'b', shape: [c.cout] },
    ],
    attributes: [
      { name: 'kernel_shape', ints: [k, k, k] },
      { name: 'strides', ints: [c.stride, c.stride, c.stride] },
      { name: 'pads', ints: Array(6).fill(c.pad) },
    ],
    outputShape: [N, c.cout, o, o, o],
  };
}

function torchCases(c: ConvCase): TorchCase[] {
  const k = c.kernel;
  const o = outSize(c);
  const x = `torch.randn(${N}, ${c.cin}, ${c.size}, ${c.size}, ${c.size})`;
  const gy = `torch.randn(${N}, ${c.cout}, ${o}, ${o}, ${o})`;
  const w = c.transposed ? `torch.randn(${c.cin}, ${c.cout}, ${k}, ${k}, ${k}) * 0.1` : `torch.randn(${c.cout}, ${c.cin}, ${k}, ${k}, ${k}) * 0.1`;
  const opts = `stride=${c.stride}, padding=${c.pad}`;
  const fn = c.transposed ? 'F.conv_transpose3d' : 'F.conv3d';
  const fb = `(lambda x, w, b, gy: (lambda: ${fn}(x, w, b, ${opts}).backward(gy)))(${x}.requires_grad_(), (${w}).requires_grad_(), torch.zeros(${c.cout}, requires_grad=True), ${gy})`;
  const cases: Record<Pass, string> = {
    forward: `(lambda x, w, b: (lambda: ${fn}(x, w, b, ${opts})))(${x}, ${w}, torch.zeros(${c.cout}))`,
    'grad-input': c.transposed
      ? `(lambda gy, w: (lambda: F.conv3d(gy, w, None, ${opts})))(${gy}, ${w})`
      : `(lambda gy, w: (lambda: grad.conv3d_input((${N}, ${c.cin}, ${c.size}, ${c.size}, ${c.size}), w, gy, ${opts})))(${gy}, ${w})`,
    'grad-weight': c.transposed
      ? `(lambda x, gy: (lambda: grad.conv3d_weight(gy, (${c.cin}, ${c.cout}, ${k}, ${k}, ${k}), x, ${opts})))(${x}, ${gy})`
      : `(lambda x, gy: (lambda: grad.conv3d_weight(x, (${c.cout}, ${c.cin}, ${k}, ${k}, ${k}), gy, ${opts})))(${x}, ${gy})`,
    'forward+backward': fb,
  };
  return PASSES.map((p) => ({ key: `${c.name} ${p}`, setup: cases[p] }));
}

function peerValue(result: PeerResult | undefined, work: number): number | string {
  if (!result) return '-';
  return 'seconds' in result ? work / result.seconds / 1e9 : result.error.slice(0, 60);
}

const ratio = (a: number, b: number | string) => (typeof b === 'number' && b > 0 ? a / b : '-');

export async function runConvBench(filter = ''): Promise<BenchRow[]> {
  const adapter = adapterName();
  const cases = CONV_CASES.filter((c) => c.name.includes(filter));
  const torch = torchAvailable();
  const torchTimes = torch.ok ? torchSeconds(cases.flatMap(torchCases), 3) : new Map<string, Timed>();
  if (!torch.ok) process.stderr.write(`PyTorch column skipped: ${torch.reason}\n`);
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const ortCpu = await ortSeconds(ortNode(c), 'cpu', 3);
    const ortGpu = await ortSeconds(ortNode(c), 'webgpu', 1);
    const t = operands(c);
    for (const pass of PASSES) {
      const timed = await measure(`${c.name} ${pass}`, () => {
        for (const out of ours(c, pass, t)) out.dispose();
      });
      const seconds = timed.seconds;
      const extra = extraBytes(() => ours(c, pass, t));
      const work = flops(c, pass);
      const value = work / seconds / 1e9;
      const torchTime = torchTimes.get(`${c.name} ${pass}`);
      const torchRate = torchTime ? work / torchTime.seconds / 1e9 : torch.ok ? '-' : 'n/a';
      const cpu = pass === 'forward' ? peerValue(ortCpu, work) : '-';
      const gpu = pass === 'forward' ? peerValue(ortGpu, work) : '-';
      rows.push({
        name: `${c.name} b${N} ${pass}`, adapter, metric: 'throughput', value, unit: 'GFLOP/s', ms: seconds * 1e3, busy: timed.others,
        extraMB: extra / 2 ** 20, torch: torchRate, torchBusy: torchTime?.others ?? '-', ortCpu: cpu, ortWebgpu: gpu,
        vsTorch: ratio(value, torchRate), vsOrtCpu: ratio(value, cpu), vsOrtWebgpu: ratio(value, gpu),
      });
    }
    for (const v of Object.values(t)) v.dispose();
  }
  if (filter === '' || 'instance norm'.includes(filter) || filter.includes('norm')) rows.push(...(await normRows(adapter, torch.ok)));
  return rows;
}

/** Instance norm 16 ch 96³ (V-Net's IN → ReLU), fused and unfused, next to the peers. */
async function normRows(adapter: string, withTorch: boolean): Promise<BenchRow[]> {
  const shape = [N, 16, 96, 96, 96];
  const x = T.keep(T.randn(shape, 0.5, 2, { seed: 5 }));
  const gy = T.keep(T.randn(shape, 0, 1, { seed: 6 }));
  const bytes = x.byteLength;
  const rows: BenchRow[] = [];
  const torchTimes: Map<string, Timed> = withTorch
    ? torchSeconds([
        { key: 'fwd', setup: `(lambda x: (lambda: F.relu(F.instance_norm(x))))(torch.randn(${shape.join(', ')}))` },
        { key: 'fb', setup: `(lambda x, gy: (lambda: F.relu(F.instance_norm(x)).backward(gy)))(torch.randn(${shape.join(', ')}).requires_grad_(), torch.randn(${shape.join(', ')}))` },
      ], 3)
    : new Map<string, Timed>();
  const node: OrtNode = {
    op: 'InstanceNormalization', inputs: [{ name: 'x', shape }],
    initializers: [{ name: 's', shape: [16] }, { name: 'b', shape: [16] }], attributes: [{ name: 'epsilon', f: 1e-5 }], outputShape: shape,
  };
  const ortCpu = await ortSeconds(node, 'cpu', 3);
  const ortGpu = await ortSeconds(node, 'webgpu', 1);
  const variants: [string, () => T.Tensor[], number, string, boolean][] = [
    ['instance norm + ReLU (fused) 16ch 96³ forward', () => [T.noGrad(() => T.instanceNorm3d(x, { relu: true }))], 2 * bytes, 'fwd', true],
    ['instance norm, then ReLU 16ch 96³ forward', () => T.noGrad(() => {
      const n = T.instanceNorm3d(x);
      const y = T.relu(n);
      n.dispose();
      return [y];
    }), 2 * bytes, 'fwd', true],
    ['instance norm + ReLU (fused) 16ch 96³ forward+backward', () => {
      x.requiresGrad = true;
      const y = T.instanceNorm3d(x, { relu: true });
      backward(y, gy);
      y.dispose();
      const g = x.grad!;
      x.grad = null;
      x.requiresGrad = false;
      return [g];
    }, 5 * bytes, 'fb', false],
  ];
  for (const [name, run, moved, key, forward] of variants) {
    const timed = await measure(name, () => {
      for (const t of run()) t.dispose();
    });
    const seconds = timed.seconds;
    const value = moved / seconds / 1e9;
    const torchTime = torchTimes.get(key);
    const torchRate = torchTime ? moved / torchTime.seconds / 1e9 : '-';
    const cpu = forward ? peerValue(ortCpu, moved) : '-';
    const gpu = forward ? peerValue(ortGpu, moved) : '-';
    rows.push({
      name: `${name} b${N}`, adapter, metric: 'bandwidth', value, unit: 'GB/s', ms: seconds * 1e3, busy: timed.others, extraMB: extraBytes(run) / 2 ** 20,
      torch: torchRate, torchBusy: torchTime?.others ?? '-', ortCpu: cpu, ortWebgpu: gpu, vsTorch: ratio(value, torchRate), vsOrtCpu: ratio(value, cpu), vsOrtWebgpu: ratio(value, gpu),
    });
  }
  x.dispose();
  gy.dispose();
  return rows;
}
