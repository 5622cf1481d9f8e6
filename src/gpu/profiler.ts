import type { Kernel } from './kernels.js';

/**
 * Per-kernel GPU time from timestamp queries (TAK_WGPU_PROFILE=1). Each profiled dispatch gets a
 * compute pass of its own with begin/end timestamps; a batch's queries are resolved when it is
 * submitted and read back asynchronously, so profiling changes batching but never blocks.
 */
export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private labels: string[] = [];
  private readonly reads: Promise<void>[] = [];
  private readonly totals = new Map<string, { ns: number; calls: number }>();

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 512,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: capacity * 2, label: 'profiler' });
    this.resolveBuffer = device.createBuffer({
      size: capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      label: 'profiler-resolve',
    });
  }

  get full(): boolean {
    return this.labels.length >= this.capacity;
  }

  /** Pass descriptor that timestamps the next dispatch. */
  passFor(kernel: Kernel): GPUComputePassDescriptor {
    const i = this.labels.length;
    this.labels.push(kernel.key);
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Adds the resolve + copy for this batch's queries to `encoder`; call `collect` after submit. */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.labels.length;
    if (!n) return null;
    const labels = this.labels;
    this.labels = [];
    const staging = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, n * 16);
    return () => {
      this.reads.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(staging.getMappedRange());
          for (let i = 0; i < n; i++) {
            const ns = Number(t[2 * i + 1]! - t[2 * i]!);
            const entry = this.totals.get(labels[i]!) ?? { ns: 0, calls: 0 };
            entry.ns += ns;
            entry.calls++;
            this.totals.set(labels[i]!, entry);
          }
          staging.unmap();
          staging.destroy();
        }),
      );
    };
  }

  /** Accumulated GPU nanoseconds and calls per kernel key, once every pending read has landed. */
  async totalsByKernel(): Promise<Map<string, { ns: number; calls: number }>> {
    await Promise.all(this.reads);
    return new Map([...this.totals].map(([key, v]) => [key, { ...v }]));
  }

  async table(): Promise<string> {
    const rows = [...(await this.totalsByKernel())].sort((a, b) => b[1].ns - a[1].ns);
    const total = rows.reduce((s, [, v]) => s + v.ns, 0) || 1;
    const lines = ['kernel'.padEnd(60) + 'calls'.padStart(8) + 'total ms'.padStart(12) + 'mean µs'.padStart(12) + 'share'.padStart(8)];
    for (const [key, { ns, calls }] of rows) {
      lines.push(
        key.slice(0, 59).padEnd(60) +
          String(calls).padStart(8) +
          (ns / 1e6).toFixed(2).padStart(12) +
          (ns / calls / 1e3).toFixed(1).padStart(12) +
          `${((100 * ns) / total).toFixed(1)}%`.padStart(8),
      );
    }
    return lines.join('\n');
  }
}
