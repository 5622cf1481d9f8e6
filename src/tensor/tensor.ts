import { engine } from '../gpu/engine.js';
import type { PooledBuffer } from '../gpu/pool.js';
import type { BufferRef } from '../gpu/engine.js';
import { TakError, show } from '../util/errors.js';

export type DType = 'f32' | 'i32' | 'u32';
export type Shape = readonly number[];
export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export const BYTES_PER_ELEMENT = 4;

/** The gradient function of a tensor produced by a differentiable op (see autograd/graph.ts). */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Drops what the node retains (inputs, saved values). */
  release(): void;
}

/** GPU memory shared by a tensor and its reshaped views; freed when the last holder lets go. */
class Storage {
  holders = 1;
  /** Tensors computed from this memory's contents (Tensor.derived), with the write count they saw. */
  derived: Map<string, { writes: number; tensor: Tensor }> | null = null;
  constructor(readonly buffer: PooledBuffer) {}
  retain(): this {
    this.holders++;
    return this;
  }
  release(): void {
    if (--this.holders > 0) return;
    for (const { tensor } of this.derived?.values() ?? []) tensor.dispose();
    this.derived = null;
    engine().free(this.buffer);
  }
}

let nextTensorId = 1;
let liveTensors = 0;

/** Scope stack: tensors created inside `scope()` are disposed at its end unless returned or kept. */
const scopes: Tensor[][] = [];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TakError(`Invalid ${what} ${show([...shape])}: dimensions must be non-negative integers`);
  }
}

/**
 * An n-dimensional array on the GPU: contiguous, row-major (last axis fastest), with an explicit
 * lifetime. `dispose()` ends the user's hold; the memory is freed once no autograd node or view
 * still holds it. Ops check for disposed inputs so use-after-dispose is a clear error, not garbage.
 */
export class Tensor {
  readonly id = nextTensorId++;
  readonly size: number;
  /** Set by ops when gradients flow through this tensor. */
  gradFn: GradNode | null = null;
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after backward(). Owned by this tensor. */
  grad: Tensor | null = null;
  /** Optional name (parameters use their state_dict key). */
  name: string | undefined;
  private storage: Storage | null;
  private holds = 1;
  private userDisposed = false;

  private constructor(
    storage: Storage,
    readonly shape: Shape,
    readonly dtype: DType,
    /** Where the tensor starts in its buffer (views of a contiguous block of another tensor). */
    readonly byteOffset = 0,
  ) {
    this.storage = storage;
    this.size = numel(shape);
    liveTensors++;
    scopes[scopes.length - 1]?.push(this);
  }

  /** A new tensor with uninitialised contents (ops write every element). */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    const buffer = engine().alloc(numel(shape) * BYTES_PER_ELEMENT);
    return new Tensor(new Storage(buffer), [...shape], dtype);
  }

  /**
   * Shares `source`'s memory: the same elements under another shape, or (with `elementOffset`)
   * a contiguous block of them starting that many elements in. Offsets must keep the binding
   * aligned (see `viewAlignment`).
   */
  static view(source: Tensor, shape: Shape, elementOffset = 0): Tensor {
    const byteOffset = source.byteOffset + elementOffset * BYTES_PER_ELEMENT;
    if (byteOffset % viewAlignment() !== 0) {
      throw new TakError(`Internal error: a view at byte ${byteOffset} breaks the ${viewAlignment()}-byte binding alignment`);
    }
    if (elementOffset + numel(shape) > source.size) {
      throw new TakError(`Internal error: a view of ${numel(shape)} elements at ${elementOffset} exceeds its source ${show([...source.shape])}`);
    }
    return new Tensor(source.live().storage!.retain(), [...shape], source.dtype, byteOffset);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.userDisposed;
  }

  /** The pooled GPU buffer (for ops). */
  get buffer(): PooledBuffer {
    return this.live().storage!.buffer;
  }

  /**
   * The binding ops pass to kernels: the tensor's bytes rounded up to 16 (vec4 kernels touch the
   * padding of a partial last vec4; pool buckets are multiples of 256 bytes, so it exists).
   */
  get binding(): BufferRef {
    const buffer = this.buffer;
    return { buffer, offset: this.byteOffset, size: Math.max(16, Math.ceil(this.byteLength / 16) * 16) };
  }

  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT;
  }

  /**
   * Throws a clear error when the tensor's memory is gone. A tensor the caller disposed stays
   * usable while an autograd node still holds it: VJPs read the inputs they saved even after the
   * scope that created them ended. Returns `this` for chaining.
   */
  live(): this {
    if (!this.storage) {
      throw new TakError(
        `Tensor #${this.id}${this.name ? ` (${this.name})` : ''} of shape ${show([...this.shape])} was used after dispose(). ` +
          'Keep it alive (do not dispose it, or return it from the scope()/keep() it) while it is still needed.',
      );
    }
    return this;
  }

  /**
   * Internal: no other tensor shares this memory and no autograd node holds it, so an op may add
   * into it in place (backward() offers such gradients so far to VJPs that can accumulate).
   */
  get ownsMemory(): boolean {
    return this.storage?.holders === 1 && this.holds === 1;
  }

  /**
   * Internal: a tensor computed from this one's contents by `make` (packed convolution weights),
   * made once and reused while this memory is not written again — any dispatch that binds it
   * writable, upload, copy or clear counts (PooledBuffer.writes), so an optimiser step or EMA
   * update makes the next call recompute it. The memory owns it (callers must not dispose it);
   * it is freed with the memory. `key` names what `make` computes.
   */
  derived(key: string, make: () => Tensor): Tensor {
    const storage = this.live().storage!;
    const full = `${this.byteOffset}:${this.shape.join('x')}:${key}`;
    const cached = storage.derived?.get(full);
    if (cached && cached.writes === storage.buffer.writes) return cached.tensor;
    cached?.tensor.dispose();
    const tensor = keep(make());
    (storage.derived ??= new Map()).set(full, { writes: storage.buffer.writes, tensor });
    return tensor;
  }

  /** Ends the user's hold. Idempotent. Autograd nodes that saved this tensor keep its memory. */
  dispose(): void {
    if (this.userDisposed) return;
    this.userDisposed = true;
    this.grad?.dispose();
    this.grad = null;
    this.drop();
  }

  /** Internal: an extra hold by an autograd node. */
  retain(): this {
    this.live();
    this.holds++;
    return this;
  }

  /** Internal: releases a hold taken with retain(). */
  drop(): void {
    if (--this.holds > 0) return;
    const node = this.gradFn;
    this.gradFn = null;
    this.storage?.release();
    this.storage = null;
    liveTensors--;
    node?.release();
  }

  async toArray(): Promise<TypedArrayFor<DType>> {
    const bytes = await engine().read(this.buffer, this.byteOffset, this.byteLength);
    return (this.dtype === 'f32' ? new Float32Array(bytes) : this.dtype === 'i32' ? new Int32Array(bytes) : new Uint32Array(bytes)) as TypedArrayFor<DType>;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new TakError(`item() needs a tensor with one element; this one has shape ${show([...this.shape])}`);
    return (await this.toArray())[0]!;
  }

  toString(): string {
    return `Tensor#${this.id}(${this.dtype}${show([...this.shape])}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Byte alignment a view's offset must have to be bound (the adapter's storage offset alignment). */
export function viewAlignment(): number {
  return Math.max(16, engine().limits.minStorageBufferOffsetAlignment ?? 256);
}

/** Number of tensors whose memory is still held (by users, views or autograd nodes). */
export function liveTensorCount(): number {
  return liveTensors;
}

/**
 * Runs `fn`; every tensor created inside that is not part of its result (a tensor, or an array or
 * object of tensors) and not `keep()`-ed is disposed when it returns. Like tf.tidy, also for async fns.
 */
export function scope<T>(fn: () => T): T {
  const created: Tensor[] = [];
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of created) t.dispose();
    throw error;
  }
  if (result instanceof Promise) {
    throw new TakError('scope() takes a synchronous function; use asyncScope() for async code');
  }
  scopes.pop();
  finishScope(created, result);
  return result;
}

/** scope() for async functions. Do not interleave two asyncScopes concurrently. */
export async function asyncScope<T>(fn: () => Promise<T>): Promise<T> {
  const created: Tensor[] = [];
  scopes.push(created);
  const depth = scopes.length;
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    scopes.splice(depth - 1);
    for (const t of created) t.dispose();
    throw error;
  }
  if (scopes.length !== depth || scopes[depth - 1] !== created) {
    throw new TakError('asyncScope() scopes were interleaved; await one before starting another');
  }
  scopes.pop();
  finishScope(created, result);
  return result;
}

function finishScope(created: Tensor[], result: unknown): void {
  const keepSet = new Set<Tensor>();
  collectTensors(result, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of created) {
    if (keepSet.has(t) || kept.has(t)) {
      parent?.push(t);
      continue;
    }
    t.dispose();
  }
}

const kept = new WeakSet<Tensor>();

/** Exempts tensors from every enclosing scope (parameters, optimizer state, caches). */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) out.add(value);
  else if (depth > 4 || value === null || typeof value !== 'object') return;
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, out, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collectTensors(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
}
