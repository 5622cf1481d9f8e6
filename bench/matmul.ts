import * as T from '../src/index.js';
import { engine } from '../src/gpu/engine.js';
import { adapterName, timeGpu, type BenchRow } from './harness.js';
import { ortSeconds, timeClean, torchAvailable, torchSeconds, type Timed } from './peers.js';

/**
 * fp32 GEMM throughput (issue 2's target: 1024³ ≥ 20 GFLOP/s on lavapipe) next to
 * onnxruntime-node's MatMul (CPU EP) and torch.matmul on the CPU in the same run.
 */
const SIZES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 256, 256],
  [1000, 999, 1001],
];

export async function runMatmulBench(filter = ''): Promise<BenchRow[]> {
  const adapter = adapterName();
  const sizes = SIZES.filter(([m, n, k]) => `matmul ${m}x${k}x${n}`.includes(filter) || filter === 'matmul');
  const torch = torchAvailable();
  const torchTimes = torch.ok
    ? torchSeconds(sizes.map(([m, n, k]) => ({ key: `${m}x${k}x${n}`, setup: `(lambda a, b: (lambda: a @ b))(torch.randn(${m}, ${k}), torch.randn(${k}, ${n}))` })), 5)
    : new Map<string, Timed>();
  const rows: BenchRow[] = [];
  for (const [m, n, k] of sizes) {
    const a = T.keep(T.randn([m, k], 0, 1, { seed: 1 }));
    const b = T.keep(T.randn([k, n], 0, 1, { seed: 2 }));
    const mean = await timeGpu(`matmul ${m}x${k}x${n}`, () => T.matmul(a, b).dispose());
    const clean = await timeClean(async () => {
      T.matmul(a, b).dispose();
      await engine().sync();
    });
    const seconds = clean.others < 0.15 ? clean.seconds : Math.min(mean, clean.seconds);
    const flops = 2 * m * n * k;
    const value = flops / seconds / 1e9;
    const ort = await ortSeconds(
      { op: 'MatMul', inputs: [{ name: 'a', shape: [m, k] }], initializers: [{ name: 'b', shape: [k, n] }], attributes: [], outputShape: [m, n] },
      'cpu',
      5,
    );
    const ortRate = 'seconds' in ort ? flops / ort.seconds / 1e9 : ort.error;
    const torchTime = torchTimes.get(`${m}x${k}x${n}`);
    const torchRate = torchTime ? flops / torchTime.seconds / 1e9 : '-';
    rows.push({
      name: `matmul fp32 ${m}x${k} · ${k}x${n}`, adapter, metric: 'throughput', value, unit: 'GFLOP/s', ms: seconds * 1e3, busy: clean.others,
      ortCpu: ortRate, torch: torchRate, torchBusy: torchTime?.others ?? '-',
      vsOrtCpu: typeof ortRate === 'number' ? value / ortRate : '-', vsTorch: typeof torchRate === 'number' ? value / torchRate : '-',
    });
    a.dispose();
    b.dispose();
  }
  return rows;
}
