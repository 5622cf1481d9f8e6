import Benchmark from 'benchmark';
import { engine } from '../src/gpu/engine.js';

/** One measured figure; `value` is in `unit` (GFLOP/s, GB/s, ms, ...). */
export interface BenchRow {
  name: string;
  adapter: string;
  metric: string;
  value: number;
  unit: string;
  /** Anything else worth keeping: shapes, peer figures, ratios. */
  [extra: string]: unknown;
}

export interface BenchSuite {
  /** Matched by `npm run bench -- FILTER`. */
  name: string;
  run(): Promise<BenchRow[]>;
}

/**
 * Times an async GPU step with benchmark.js (deferred mode; each sample ends with the GPU idle)
 * and returns the mean seconds per run. Warm-up (pipeline compiles) happens before timing.
 */
export async function timeAsync(name: string, step: () => Promise<void>, options: { maxTime?: number; minSamples?: number } = {}): Promise<number> {
  await step();
  await step();
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      async: true,
      maxTime: options.maxTime ?? 3,
      minSamples: options.minSamples ?? 3,
      initCount: 1,
      fn: (deferred: { resolve(): void }) => {
        step().then(() => deferred.resolve(), reject);
      },
      onComplete: () => resolve(bench.stats.mean),
      onError: () => reject(bench.error),
    });
    bench.run();
  });
}

/** Times a step that only records GPU work: each sample records it and waits for the GPU. */
export function timeGpu(name: string, record: () => void, options?: { maxTime?: number; minSamples?: number }): Promise<number> {
  return timeAsync(name, async () => {
    record();
    await engine().sync();
  }, options);
}

export function adapterName(): string {
  return engine().gpu.summary.description;
}
