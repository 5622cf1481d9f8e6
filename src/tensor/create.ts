import { engine, type BufferRef } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { seedKey } from '../util/random.js';
import { TakError, show } from '../util/errors.js';
import { BYTES_PER_ELEMENT, Tensor, numel, checkShape, type DType, type Shape } from './tensor.js';

const WG = 64;

function fill(shape: Shape, dtype: DType, start: number, step: number): Tensor {
  const out = Tensor.empty(shape, dtype);
  const e = engine();
  if (start === 0 && step === 0) {
    // Zeros of every dtype are all-zero bits: the driver's buffer clear, not a dispatch.
    if (out.size > 0) e.clear(out.buffer, out.byteOffset, out.size * BYTES_PER_ELEMENT);
    return out;
  }
  const kernel = e.kernel({ file: 'fill', types: { T: dtype }, constants: { WG } });
  for (const { first, n, y } of runs(out)) e.dispatch(kernel, { y }, { n, start: start + first * step, step }, grid(Math.ceil(n / 4 / WG)));
  return out;
}

/** A fresh tensor's elements in runs that fit one binding each (see Engine.bindingBlocks). */
function runs(out: Tensor): { first: number; n: number; y: BufferRef }[] {
  return engine().bindingBlocks(out.size * 4).map(({ offset, size }) => ({
    first: offset / 4,
    n: size / 4,
    y: { buffer: out.buffer, offset: out.byteOffset + offset, size: Math.ceil(size / 16) * 16 },
  }));
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  return fill(shape, dtype, 0, 0);
}

export function ones(shape: Shape, dtype: DType = 'f32'): Tensor {
  return fill(shape, dtype, 1, 0);
}

export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  return fill(shape, dtype, value, 0);
}

/** [start, start + step, ...) with ⌈(end − start) / step⌉ elements, like torch.arange. */
export function arange(start: number, end?: number, step = 1, dtype: DType = 'i32'): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new TakError('arange(): step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  return fill([n], dtype, start, step);
}

type ArrayData = ArrayLike<number> | Float32Array | Int32Array | Uint32Array;

/** Copies host data to a new tensor. `shape` defaults to [data.length]. */
export function fromArray(data: ArrayData, shape: Shape = [data.length], dtype?: DType): Tensor {
  checkShape(shape);
  const type: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32');
  if (numel(shape) !== data.length) {
    throw new TakError(`fromArray(): ${data.length} values do not fill shape ${show([...shape])} (${numel(shape)} elements)`);
  }
  const Typed = type === 'f32' ? Float32Array : type === 'i32' ? Int32Array : Uint32Array;
  const typed = data instanceof Typed ? (data as Float32Array) : Typed.from(data as ArrayLike<number>);
  const out = Tensor.empty(shape, type);
  if (typed.byteLength > 0) engine().upload(out.buffer, typed);
  return out;
}

/** Seeded random state: like torch.manual_seed, every draw takes the next stream. */
let globalKey = seedKey(0);
let globalStream = 0;

export function manualSeed(seed: number): void {
  globalKey = seedKey(seed);
  globalStream = 0;
}

/** Position of the global generator, for checkpoints. */
export function randomState(): { key: [number, number]; stream: number } {
  return { key: [globalKey[0], globalKey[1]], stream: globalStream };
}

export function setRandomState(state: { key: [number, number]; stream: number }): void {
  globalKey = [state.key[0], state.key[1]];
  globalStream = state.stream;
}

export interface RandomOptions {
  /** Use this seed (stream 0) instead of the global generator. */
  seed?: number;
}

function random(shape: Shape, dist: 0 | 1, a: number, b: number, options: RandomOptions): Tensor {
  const [key0, key1] = options.seed === undefined ? globalKey : seedKey(options.seed);
  const stream = options.seed === undefined ? globalStream++ : 0;
  const out = Tensor.empty(shape, 'f32');
  const e = engine();
  const kernel = e.kernel({ file: 'random', constants: { WG, DIST: dist } });
  for (const { first, n, y } of runs(out)) {
    const threads = dist === 0 ? n : Math.ceil(n / 2);
    e.dispatch(kernel, { y }, { n, counter0: dist === 0 ? first : first / 2, stream, key0, key1, lo: a, hi: b }, grid(Math.ceil(threads / WG)));
  }
  return out;
}

/** Uniform samples in [lo, hi). */
export function rand(shape: Shape, lo = 0, hi = 1, options: RandomOptions = {}): Tensor {
  return random(shape, 0, lo, hi, options);
}

/** Normal samples with the given mean and standard deviation. */
export function randn(shape: Shape, mean = 0, std = 1, options: RandomOptions = {}): Tensor {
  return random(shape, 1, mean, std, options);
}
