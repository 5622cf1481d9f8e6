/**
 * MagicNet's OrganClassLogger (utils/cube_utils.py) and the blending weights derived from it
 * (method-spec §4, "Cube-wise PL blending"): predicted-class voxel counts are accumulated each
 * iteration; every `interval` iterations the distribution is replaced by the counts gathered since
 * the last update. The weight of class c is d_c = count_c^(1/T) normalised by the sum and then by
 * the maximum, so frequent (large) classes lean on the cube-wise predictions.
 */
export class ClassDistribution {
  private pending: Float64Array;
  private current: Float64Array;
  private pendingIterations = 0;

  constructor(readonly classes: number) {
    this.pending = new Float64Array(classes);
    this.current = new Float64Array(classes);
  }

  /** Adds one iteration's predicted-class voxel counts. */
  append(counts: ArrayLike<number>): void {
    for (let c = 0; c < this.classes; c++) this.pending[c]! += counts[c] ?? 0;
    this.pendingIterations++;
  }

  /** Upstream calls this when iter % 20 == 0 and something was appended. */
  maybeUpdate(iteration: number, interval: number): void {
    if (iteration % interval !== 0 || this.pendingIterations === 0) return;
    this.current = this.pending;
    this.pending = new Float64Array(this.classes);
    this.pendingIterations = 0;
  }

  /** Blending weight per class: (count^(1/T) / Σ) / max. All zeros before the first update. */
  weights(temperature: number): Float32Array {
    const powered = Array.from(this.current, (c) => c ** (1 / temperature));
    const total = powered.reduce((a, b) => a + b, 0);
    const out = new Float32Array(this.classes);
    if (total === 0) return out;
    const normalised = powered.map((v) => v / total);
    const top = Math.max(...normalised);
    normalised.forEach((v, c) => (out[c] = v / top));
    return out;
  }

  /** Serialisable state, for checkpoints. */
  state(): { pending: number[]; current: number[]; pendingIterations: number } {
    return { pending: [...this.pending], current: [...this.current], pendingIterations: this.pendingIterations };
  }

  restore(state: { pending: number[]; current: number[]; pendingIterations: number }): void {
    this.pending = Float64Array.from(state.pending);
    this.current = Float64Array.from(state.current);
    this.pendingIterations = state.pendingIterations;
  }
}
