import { engine } from '../src/gpu/engine.js';
import * as T from '../src/index.js';
import { adapterName, timeGpu, type BenchRow, type BenchSuite } from './harness.js';

/** A V-Net-sized activation: [2, 16, 96³] fp32 = 113 MB, under lavapipe's 128 MiB binding limit. */
const ACTIVATION = [2, 16, 96, 96, 96];

async function memoryBound(): Promise<BenchRow[]> {
  const adapter = adapterName();
  const x = T.keep(T.randn(ACTIVATION));
  const bias = T.keep(T.randn([1, 16, 1, 1, 1]));
  const bytes = x.byteLength;
  const rows: BenchRow[] = [];
  const gbps = (moved: number, seconds: number) => moved / seconds / 1e9;

  // Baseline: what the adapter's own buffer copy reaches.
  const copyTarget = T.keep(T.Tensor.empty(ACTIVATION));
  const copySeconds = await timeGpu('copyBufferToBuffer', () => engine().copy(x.buffer, 0, copyTarget.buffer, 0, bytes));
  const copyRate = gbps(2 * bytes, copySeconds);
  rows.push({ name: 'copy (copyBufferToBuffer) 113 MB', adapter, metric: 'bandwidth', value: copyRate, unit: 'GB/s' });

  const cases: [string, () => T.Tensor, number][] = [
    ['elementwise copy kernel 113 MB', () => T.copy(x), 2 * bytes],
    ['relu 113 MB', () => T.relu(x), 2 * bytes],
    ['broadcast add [2,16,96³] + [1,16,1,1,1]', () => T.add(x, bias), 2 * bytes],
    ['sum over spatial axes -> [2,16]', () => T.sum(x, [2, 3, 4]), bytes],
    ['sum over channels -> [2,96³]', () => T.sum(x, 1), bytes + bytes / 16],
    ['sum of everything', () => T.sum(x), bytes],
  ];
  for (const [name, op, moved] of cases) {
    const seconds = await timeGpu(name, () => op().dispose());
    const rate = gbps(moved, seconds);
    rows.push({ name, adapter, metric: 'bandwidth', value: rate, unit: 'GB/s', ms: seconds * 1e3, ofCopy: rate / copyRate });
  }
  for (const t of [x, bias, copyTarget]) t.dispose();
  return rows;
}

export const coreSuites: BenchSuite[] = [{ name: 'memory', run: memoryBound }];
