/**
 * Size-bucketed buffer pool. Buckets grow by 2^(1/4) (≤ 19 % slack) above 4 KiB, so a training
 * loop whose tensors have the same shapes every step allocates nothing after its first step.
 *
 * When a released buffer becomes reusable depends on how it is written. A buffer written only by
 * recorded commands (dispatches, copies, clears) and by uploads that first submit what was recorded
 * (Engine.upload) may be handed out again at once: the queue runs commands in recording order and
 * Dawn puts a barrier between a dispatch that reads a buffer and a later one that writes it. That
 * is the tensor pool ('immediate'): a freed activation's memory, often still in the CPU's cache on
 * lavapipe, takes the next result of its size, and the peak stays lower (cpu-preset iteration 1,443
 * → 1,292 MB, scratch harness). A buffer the host writes by other means — a staging buffer it maps — waits in
 * `pending` until the owner calls `recycle()` right after a queue.submit() ('after-submit').
 */
export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  /** Bucket size in bytes (≥ the requested size). */
  readonly size: number;
  /** Unique for the life of the process; used as a cache key for bind groups. */
  readonly id: number;
  /**
   * Recorded writes into this buffer so far (dispatches that bind it writable, uploads, copies,
   * clears): tensors derived from its contents stay valid while it is unchanged.
   */
  writes: number;
}

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Bytes sitting in free lists (and pending release), ready for reuse. */
  pooledBytes: number;
  /** Bytes currently allocated from the device (live + pooled). */
  allocatedBytes: number;
  /** High-water mark of allocatedBytes. */
  peakBytes: number;
}

let nextId = 1;

export function bucketSize(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  if (bytes <= 4096) return 2 ** Math.ceil(Math.log2(bytes));
  const step = 2 ** (Math.ceil(4 * Math.log2(bytes)) / 4);
  return Math.ceil(step / 256) * 256;
}

export class BufferPool {
  private readonly free = new Map<number, PooledBuffer[]>();
  private pending: PooledBuffer[] = [];
  private live = 0;
  private liveBytesCount = 0;
  private pooled = 0;
  private allocated = 0;
  private peak = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
    /** Free-list bytes kept beyond this are destroyed on recycle(). */
    private readonly maxPooledBytes = Number.POSITIVE_INFINITY,
    private readonly reuse: 'immediate' | 'after-submit' = 'after-submit',
  ) {}

  acquire(bytes: number): PooledBuffer {
    const size = bucketSize(Math.max(bytes, 4));
    const list = this.free.get(size);
    let entry = list?.pop();
    if (entry) {
      this.pooled -= size;
    } else {
      const buffer = this.device.createBuffer({ size, usage: this.usage, label: `${this.label}#${nextId}` });
      entry = { buffer, size, id: nextId++, writes: 0 };
      this.allocated += size;
      this.peak = Math.max(this.peak, this.allocated);
    }
    this.live++;
    this.liveBytesCount += size;
    return entry;
  }

  /** Returns a buffer; reusable at once ('immediate') or at the next recycle() (after the next submit). */
  release(entry: PooledBuffer): void {
    this.live--;
    this.liveBytesCount -= entry.size;
    this.pooled += entry.size;
    if (this.reuse === 'after-submit') {
      this.pending.push(entry);
      return;
    }
    this.toFreeList(entry);
    if (this.pooled > this.maxPooledBytes) this.trim(this.maxPooledBytes);
  }

  /** Call right after queue.submit(): everything released before it may be reused now. */
  recycle(): void {
    for (const entry of this.pending) this.toFreeList(entry);
    this.pending = [];
    if (this.pooled > this.maxPooledBytes) this.trim(this.maxPooledBytes);
  }

  private toFreeList(entry: PooledBuffer): void {
    let list = this.free.get(entry.size);
    if (!list) this.free.set(entry.size, (list = []));
    list.push(entry);
  }

  /** Destroys free buffers, largest first, until at most `keepBytes` stay pooled. */
  trim(keepBytes = 0): void {
    const sizes = [...this.free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.free.get(size)!;
      while (list.length && this.pooled > keepBytes) {
        list.pop()!.buffer.destroy();
        this.pooled -= size;
        this.allocated -= size;
      }
    }
  }

  stats(): PoolStats {
    return {
      liveBuffers: this.live,
      liveBytes: this.liveBytesCount,
      pooledBytes: this.pooled,
      allocatedBytes: this.allocated,
      peakBytes: this.peak,
    };
  }

  resetPeak(): void {
    this.peak = this.allocated;
  }
}
