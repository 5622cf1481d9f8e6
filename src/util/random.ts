/**
 * Counter-based random numbers (Threefry-2x32, 20 rounds — the generator JAX uses), identical on
 * the CPU here and on the GPU in kernels/random.wgsl: the bits depend only on (key, counter), so
 * the same seed gives the same numbers on any adapter and in any order of evaluation.
 */

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Threefry-2x32-20 of counter (c0, c1) under key (k0, k1); returns two 32-bit words. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let round = 0; round < 20; round++) {
    x0 = (x0 + x1) >>> 0;
    x1 = rotl(x1, ROTATIONS[round % 8]!) ^ x0;
    if (round % 4 === 3) {
      const j = (round + 1) / 4;
      x0 = (x0 + ks[j % 3]!) >>> 0;
      x1 = (x1 + ks[(j + 1) % 3]! + j) >>> 0;
    }
  }
  return [x0, x1];
}

/** Uniform float in [0, 1) from the top 24 bits (exactly representable in float32). */
export function bitsToUniform(bits: number): number {
  return (bits >>> 8) * 2 ** -24;
}

/** A 32-bit key from any integer seed (splits large seeds into two words). */
export function seedKey(seed: number): [number, number] {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return threefry2x32(0x9e3779b9, 0x7f4a7c15, lo, hi);
}

/**
 * A seeded stream on the CPU: each draw uses the next counter value. `fork(label)` derives an
 * independent stream (e.g. one per worker or per data case) without consuming this one.
 */
export class Rng {
  private readonly k0: number;
  private readonly k1: number;
  private counter = 0;
  private spare: number | null = null;

  constructor(seed: number | [number, number]) {
    [this.k0, this.k1] = typeof seed === 'number' ? seedKey(seed) : seed;
  }

  /** Position in the stream (for checkpoints); restore with `at(state)`. */
  get state(): { key: [number, number]; counter: number } {
    return { key: [this.k0, this.k1], counter: this.counter };
  }

  static at(state: { key: [number, number]; counter: number }): Rng {
    const rng = new Rng(state.key);
    rng.counter = state.counter;
    return rng;
  }

  fork(label: number): Rng {
    return new Rng(threefry2x32(this.k0, this.k1, label >>> 0, 0xffffffff));
  }

  /** 32 random bits. */
  nextU32(): number {
    const c = this.counter++;
    return threefry2x32(this.k0, this.k1, c >>> 0, Math.floor(c / 2 ** 32))[0];
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return bitsToUniform(this.nextU32());
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  /** Fills an array with uniform [lo, hi) or normal(mean, std) values. */
  fillUniform(out: Float32Array | Float64Array, lo = 0, hi = 1): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }
}
