import { TakError } from '../util/errors.js';
import { acquireGpu, type AdapterChoice, type GpuHandles } from './device.js';
import { settle } from './wait.js';
import { KernelRegistry, type Kernel, type KernelSpec } from './kernels.js';
import { BufferPool, type PooledBuffer, type PoolStats } from './pool.js';
import { Profiler } from './profiler.js';
import { grid } from './grid.js';

/** A storage binding: a whole pooled buffer, or a byte range of one. */
export type BufferRef = PooledBuffer | { buffer: PooledBuffer; offset: number; size: number };

export type ParamValues = Record<string, number | ArrayLike<number>>;

export interface EngineOptions extends AdapterChoice {
  /** Dispatches recorded before an automatic submit. */
  batchSize?: number;
  /** Per-kernel GPU timing with timestamp queries (default: TAK_WGPU_PROFILE=1). */
  profile?: boolean;
  /** Submit after every dispatch inside an error scope, so errors name their kernel (slow). */
  validate?: boolean;
  /** Fill every newly allocated buffer with NaN so unwritten elements show (default: TAK_WGPU_POISON=1). */
  poison?: boolean;
}

const STORAGE_USAGE = GPUBufferUsageFlagsOf(['STORAGE', 'COPY_SRC', 'COPY_DST']);
/** Longest block per event-loop turn while waiting on a CPU adapter (gpu/wait.ts): adds at most this to a readback. */
const WAIT_NAP_MS = 1;

function GPUBufferUsageFlagsOf(names: (keyof GPUBufferUsage)[]): () => number {
  return () => names.reduce((flags, name) => flags | (GPUBufferUsage[name] as number), 0);
}

/**
 * The device, its pools, the kernel registry and the command recorder. Ops record dispatches into
 * one open compute pass; nothing is submitted until a readback, an explicit flush, or the batch
 * threshold. Parameters of every dispatch go into one CPU-side arena that is uploaded with a single
 * writeBuffer per submit and bound with dynamic offsets, so recording a dispatch costs no GPU call
 * beyond setPipeline/setBindGroup/dispatchWorkgroups, and bind groups are cached by buffer ids.
 */
export class Engine {
  readonly device: GPUDevice;
  readonly kernels: KernelRegistry;
  readonly storage: BufferPool;
  private readonly standIns = new Map<number, PooledBuffer>();
  private readonly staging: BufferPool;
  private readonly profiler: Profiler | null;
  private readonly batchSize: number;
  private readonly validate: boolean;
  private readonly poison: boolean;

  private readonly arena: GPUBuffer;
  private readonly arenaBytes: ArrayBuffer;
  private readonly arenaU32: Uint32Array;
  private readonly arenaI32: Int32Array;
  private readonly arenaF32: Float32Array;
  private arenaUsed = 0;
  private readonly arenaAlign: number;
  private readonly arenaSize = 1 << 20;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInBatch = 0;
  private totalDispatches = 0;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly checks: Promise<string | null>[] = [];
  private readonly errors: string[] = [];
  private lostMessage: string | null = null;
  private closed = false;
  private bindingCap: number | null = null;

  constructor(
    readonly gpu: GpuHandles,
    options: EngineOptions = {},
  ) {
    const device = gpu.device;
    this.device = device;
    this.batchSize = options.batchSize ?? 64;
    this.validate = options.validate ?? process.env.TAK_WGPU_VALIDATE === '1';
    this.poison = options.poison ?? process.env.TAK_WGPU_POISON === '1';
    const wantProfile = options.profile ?? process.env.TAK_WGPU_PROFILE === '1';
    this.profiler = wantProfile && gpu.features.includes('timestamp-query') ? new Profiler(device) : null;
    this.kernels = new KernelRegistry(device, (check) => this.checks.push(check));
    this.storage = new BufferPool(device, STORAGE_USAGE(), 'tensor', Number.POSITIVE_INFINITY, 'immediate');
    this.staging = new BufferPool(device, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'staging', 64 << 20);
    this.arenaAlign = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment ?? 256);
    this.arena = device.createBuffer({ size: this.arenaSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'params-arena' });
    this.arenaBytes = new ArrayBuffer(this.arenaSize);
    this.arenaU32 = new Uint32Array(this.arenaBytes);
    this.arenaI32 = new Int32Array(this.arenaBytes);
    this.arenaF32 = new Float32Array(this.arenaBytes);
    device.addEventListener('uncapturederror', (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => {
      if (!this.closed) this.lostMessage = `${info.reason}: ${info.message}`;
    });
    if (wantProfile && !this.profiler) {
      process.stderr.write('TAK_WGPU_PROFILE=1 ignored: this adapter has no timestamp-query feature\n');
    }
  }

  get limits(): Record<string, number> {
    return this.gpu.limits;
  }

  /** Whether the adapter is a CPU rasteriser (lavapipe, SwiftShader, WARP): kernels size their grids by it. */
  get isSoftware(): boolean {
    return this.gpu.summary.isSoftware;
  }

  /** The adapter's maxStorageBufferBindingSize, or the lower cap set by capBindingBytes. */
  get maxBindingBytes(): number {
    return Math.min(this.gpu.limits.maxStorageBufferBindingSize ?? 128 << 20, this.bindingCap ?? Infinity);
  }

  /**
   * Caps the bytes per binding below the adapter's limit (null: the adapter's limit), so tests can
   * exercise the ops' split paths on small tensors. Returns the previous cap.
   */
  capBindingBytes(bytes: number | null): number | null {
    const previous = this.bindingCap;
    this.bindingCap = bytes;
    return previous;
  }

  kernel(spec: KernelSpec): Kernel {
    this.assertUsable();
    return this.kernels.get(spec);
  }

  alloc(bytes: number): PooledBuffer {
    this.assertUsable();
    const buffer = this.storage.acquire(bytes);
    if (this.poison) this.fillBits(buffer, 0x7fc00000);
    return buffer;
  }

  /** Byte ranges of whole 256-byte blocks, each within one binding, that cover `bytes` bytes. */
  bindingBlocks(bytes: number): { offset: number; size: number }[] {
    const chunk = Math.max(256, Math.floor(this.maxBindingBytes / 256) * 256);
    const blocks = [];
    for (let offset = 0; offset < bytes; offset += chunk) blocks.push({ offset, size: Math.min(chunk, bytes - offset) });
    return blocks;
  }

  /** Records a fill of the whole buffer with one 32-bit pattern (NaN poisoning in tests). */
  private fillBits(buffer: PooledBuffer, bits: number): void {
    const kernel = this.kernels.get({ file: 'fill', types: { T: 'u32' }, constants: { WG: 64 } });
    // The adapter's limit, not a test's cap: poisoning must not depend on the op under test.
    const cap = this.bindingCap;
    this.bindingCap = null;
    try {
      for (const { offset, size } of this.bindingBlocks(buffer.size)) {
        this.dispatch(kernel, { y: { buffer, offset, size } }, { n: size / 4, start: bits, step: 0 }, grid(Math.ceil(size / 16 / 64)));
      }
    } finally {
      this.bindingCap = cap;
    }
  }

  free(buffer: PooledBuffer): void {
    if (this.closed) return;
    this.storage.release(buffer);
  }

  /**
   * A small buffer for a binding that a dispatch's specialisation never touches. Read-only
   * stand-ins may be shared; each writable binding of one dispatch needs its own (WebGPU forbids
   * aliasing a writable binding), hence `index`. The engine keeps them for its lifetime.
   */
  standIn(writable: boolean, index = 0): PooledBuffer {
    const key = writable ? 1 + index : 0;
    let buffer = this.standIns.get(key);
    if (!buffer) this.standIns.set(key, (buffer = this.storage.acquire(16)));
    return buffer;
  }

  /**
   * Uploads `data` into a buffer. queue.writeBuffer runs before any command not yet submitted, so
   * recorded work is submitted first: the write then lands after everything recorded before it.
   */
  upload(buffer: PooledBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.assertUsable();
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(buffer.buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
    buffer.writes++;
  }

  dispatch(kernel: Kernel, buffers: Record<string, BufferRef>, params: ParamValues | null, workgroups: readonly number[]): void {
    this.assertUsable();
    const [x = 1, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxGroups = this.gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new TakError(`${kernel.key}: dispatch of [${x}, ${y}, ${z}] workgroups exceeds the adapter limit ${maxGroups} per dimension`);
    }
    if (this.arenaUsed + (kernel.params?.size ?? 0) + this.arenaAlign > this.arenaSize || this.profiler?.full) this.flush();
    const offset = kernel.params ? this.writeParams(kernel, params ?? {}) : -1;
    const bindGroup = this.bindGroup(kernel, buffers);
    if (this.validate) this.device.pushErrorScope('validation');
    const pass = this.openPass(kernel);
    pass.setPipeline(kernel.pipeline);
    if (offset >= 0) pass.setBindGroup(0, bindGroup, [offset]);
    else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.closePass();
    this.dispatchesInBatch++;
    this.totalDispatches++;
    if (this.validate) {
      this.flush();
      this.checks.push(this.device.popErrorScope().then((e) => (e ? `${kernel.key}: ${e.message}` : null)));
    } else if (this.dispatchesInBatch >= this.batchSize) {
      this.flush();
    }
  }

  /** Records a buffer-to-buffer copy (ends the open compute pass). */
  copy(src: PooledBuffer, srcOffset: number, dst: PooledBuffer, dstOffset: number, bytes: number): void {
    this.assertUsable();
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
    dst.writes++;
  }

  /**
   * Records zeroing `bytes` (a multiple of 4) of a buffer from `offset` (ends the open compute
   * pass). On lavapipe this is the driver's memset: 4 M floats in ~0.45 ms, against 3–6 ms for the
   * fill kernel, and ~10 µs of fixed cost against ~80 µs per dispatch.
   */
  clear(buffer: PooledBuffer, offset: number, bytes: number): void {
    this.assertUsable();
    this.closePass();
    this.openEncoder().clearBuffer(buffer.buffer, offset, bytes);
    buffer.writes++;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (this.closed) return;
    this.closePass();
    if (!this.encoder) return;
    const encoder = this.encoder;
    this.encoder = null;
    const collect = this.profiler?.resolve(encoder) ?? null;
    if (this.arenaUsed > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaBytes, 0, this.arenaUsed);
      this.arenaUsed = 0;
    }
    this.device.queue.submit([encoder.finish()]);
    collect?.();
    this.dispatchesInBatch = 0;
    this.storage.recycle();
    this.staging.recycle();
  }

  /** Copies `bytes` from a buffer back to the CPU. */
  async read(src: PooledBuffer, srcOffset: number, bytes: number): Promise<ArrayBuffer> {
    this.assertUsable();
    const padded = Math.ceil(bytes / 4) * 4;
    const staging = this.staging.acquire(padded);
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src.buffer, srcOffset, staging.buffer, 0, padded);
    this.flush();
    try {
      await this.waitFor(staging.buffer.mapAsync(GPUMapMode.READ, 0, padded));
    } catch (error) {
      await this.throwPendingErrors();
      this.assertUsable();
      throw new TakError(`Reading ${bytes} bytes back from the GPU failed: ${(error as Error).message}`, { cause: error });
    }
    const out = staging.buffer.getMappedRange(0, padded).slice(0, bytes);
    staging.buffer.unmap();
    this.staging.release(staging);
    await this.throwPendingErrors();
    return out;
  }

  /** Flushes and waits until the GPU has finished everything submitted; surfaces errors. */
  async sync(): Promise<void> {
    this.assertUsable();
    this.flush();
    await this.waitFor(this.device.queue.onSubmittedWorkDone());
    await this.throwPendingErrors();
  }

  /**
   * Waits for a Dawn promise; on a CPU adapter without spinning the core the driver needs
   * (gpu/wait.ts). On a GPU the plain await keeps the latency of each readback minimal.
   */
  private waitFor<T>(promise: Promise<T>): Promise<T> {
    return this.isSoftware ? settle(promise, WAIT_NAP_MS) : promise;
  }

  stats(): PoolStats & { dispatches: number; pipelines: number } {
    return { ...this.storage.stats(), dispatches: this.totalDispatches, pipelines: this.kernels.pipelineCount };
  }

  async profileTable(): Promise<string | null> {
    this.flush();
    return this.profiler ? this.profiler.table() : null;
  }

  /** Per-kernel GPU totals so far (null without TAK_WGPU_PROFILE=1); benchmarks diff two of them. */
  async profileTotals(): Promise<Map<string, { ns: number; calls: number }> | null> {
    this.flush();
    return this.profiler ? this.profiler.totalsByKernel() : null;
  }

  /** Starts a new peak-memory window at the bytes allocated now. */
  resetPeakBytes(): void {
    this.storage.resetPeak();
  }

  get profiling(): boolean {
    return this.profiler !== null;
  }

  /** Destroys the device. Idempotent; later calls into the engine throw. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.bindGroups.clear();
    this.gpu.release();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertUsable(): void {
    if (this.lostMessage) {
      throw new TakError(
        `The GPU device was lost (${this.lostMessage}). Tensors on it are gone; restart the process. ` +
          'On a software adapter this usually means the machine ran out of memory.',
      );
    }
    if (this.closed) throw new TakError('The tak-wgpu engine was shut down; call init() again before using tensors.');
  }

  private async throwPendingErrors(): Promise<void> {
    const results = await Promise.all(this.checks.splice(0));
    const messages = [...results.filter((m): m is string => m !== null), ...this.errors.splice(0)];
    if (messages.length) throw new TakError(`WebGPU reported ${messages.length} error(s):\n${messages.join('\n')}`);
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private openPass(kernel: Kernel): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    this.pass = this.openEncoder().beginComputePass(this.profiler ? this.profiler.passFor(kernel) : undefined);
    return this.pass;
  }

  private closePass(): void {
    if (!this.pass) return;
    this.pass.end();
    this.pass = null;
  }

  private writeParams(kernel: Kernel, params: ParamValues): number {
    const layout = kernel.params!;
    const offset = this.arenaUsed;
    const base = offset / 4;
    for (const name of Object.keys(params)) {
      if (!layout.fields.has(name)) {
        throw new TakError(`${kernel.key}: kernels/${kernel.file}.wgsl has no parameter "${name}"; it has ${[...layout.fields.keys()].join(', ')}`);
      }
    }
    for (const [name, field] of layout.fields) {
      const value = params[name];
      if (value === undefined) throw new TakError(`${kernel.key}: parameter "${name}" was not given`);
      const view = field.kind === 'f32' ? this.arenaF32 : field.kind === 'i32' ? this.arenaI32 : this.arenaU32;
      const at = base + field.offset / 4;
      if (typeof value === 'number') {
        view[at] = value;
      } else {
        if (value.length > field.count) {
          throw new TakError(`${kernel.key}: parameter "${name}" holds ${field.count} values, got ${value.length}`);
        }
        for (let i = 0; i < field.count; i++) view[at + i] = i < value.length ? value[i]! : 0;
      }
    }
    this.arenaUsed = Math.ceil((offset + layout.size) / this.arenaAlign) * this.arenaAlign;
    return offset;
  }

  private bindGroup(kernel: Kernel, buffers: Record<string, BufferRef>): GPUBindGroup {
    let key = kernel.key;
    const entries: GPUBindGroupEntry[] = [];
    for (const binding of kernel.storage) {
      const ref = buffers[binding.name];
      if (!ref) {
        throw new TakError(`${kernel.key}: storage binding "${binding.name}" was not given (have: ${Object.keys(buffers).join(', ')})`);
      }
      const pooled = 'buffer' in ref && 'offset' in ref ? ref.buffer : (ref as PooledBuffer);
      if (!binding.readOnly) pooled.writes++; // bound writable: tensors derived from it are stale
      const offset = 'offset' in ref ? ref.offset : 0;
      const size = 'offset' in ref ? ref.size : pooled.size;
      const bindBytes = Math.ceil(size / 4) * 4;
      if (bindBytes > this.maxBindingBytes) {
        throw new TakError(
          `${kernel.key}: binding "${binding.name}" spans ${bindBytes} bytes, over this adapter's maxStorageBufferBindingSize ` +
            `of ${this.maxBindingBytes} bytes. Use a smaller batch or patch size, or an adapter with a larger limit.`,
        );
      }
      key += `|${pooled.id}:${offset}:${bindBytes}`;
      entries.push({ binding: binding.binding, resource: { buffer: pooled.buffer, offset, size: bindBytes } });
    }
    let group = this.bindGroups.get(key);
    if (group) return group;
    if (kernel.params) {
      entries.push({ binding: kernel.params.binding, resource: { buffer: this.arena, offset: 0, size: kernel.params.size } });
    }
    group = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.key });
    if (this.bindGroups.size >= 4096) this.bindGroups.delete(this.bindGroups.keys().next().value!);
    this.bindGroups.set(key, group);
    return group;
  }
}

let current: Engine | null = null;
let starting: Promise<Engine> | null = null;

/** Creates (once) the process-wide engine. Later calls return the same engine. */
export async function init(options: EngineOptions = {}): Promise<Engine> {
  if (current && !current.isClosed) return current;
  if (!starting) {
    starting = acquireGpu(options).then((gpu) => {
      current = new Engine(gpu, options);
      installExitHooks();
      return current;
    });
    starting.finally(() => (starting = null)).catch(() => undefined);
  }
  return starting;
}

/** The engine created by init(); throws a clear error before that. */
export function engine(): Engine {
  if (!current || current.isClosed) {
    throw new TakError('No GPU engine: call `await init()` (from tak-wgpu) before creating tensors.');
  }
  return current;
}

export function hasEngine(): boolean {
  return current !== null && !current.isClosed;
}

/**
 * Destroys the engine's device (pooled buffers go with it). With profiling on, first prints the
 * per-kernel GPU time table to stderr.
 */
export async function shutdown(): Promise<void> {
  const e = current;
  current = null;
  if (!e || e.isClosed) return;
  if (e.profiling) {
    const table = await e.profileTable();
    if (table) process.stderr.write(`\nGPU time per kernel (timestamp queries):\n${table}\n`);
  }
  e.close();
}

let hooksInstalled = false;
/** A process that ends without shutdown() still prints its profile and releases the device. */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('beforeExit', () => {
    void shutdown();
  });
}
