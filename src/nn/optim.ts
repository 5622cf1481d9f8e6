import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { fromArray, zeros } from '../tensor/create.js';
import { Tensor, keep } from '../tensor/tensor.js';
import { TakError } from '../util/errors.js';

const WG = 64;

/**
 * A mean teacher updated with the step: every parameter's EMA, target ← alpha·target + (1 − alpha)·p
 * with p after the step, for `targets` named as the optimiser's parameters (the teacher's
 * namedParameters()).
 */
export interface EmaTargets {
  targets: readonly [string, Tensor][];
  alpha: number;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * SGD with momentum, weight decay and Nesterov, matching torch.optim.SGD (dampening 0) step for
 * step: one fused in-place kernel per parameter (kernels/optim.wgsl). TAK: lr 0.01, momentum 0.9,
 * weight decay 1e-4, nesterov (method-spec §8).
 */
export class Sgd {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** Momentum buffers by parameter name (created at the first step, as PyTorch does). */
  readonly buffers = new Map<string, Tensor>();

  constructor(
    readonly params: [string, Tensor][],
    options: SgdOptions,
  ) {
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && this.momentum <= 0) throw new TakError('Nesterov momentum needs momentum > 0');
  }

  /**
   * Applies the accumulated gradients; parameters without a gradient are skipped (as PyTorch).
   * With `ema`, the same pass also moves each target toward its updated parameter (kernels/optim.wgsl
   * OP 2; the same numbers as step() then emaUpdate(), ~100 dispatches and a read of every
   * parameter fewer per cpu-preset iteration); a parameter without a gradient still moves its target.
   */
  step(ema: EmaTargets | null = null): void {
    const e = engine();
    const targets = ema ? this.emaTargets(ema) : null;
    const kernel = e.kernel({ file: 'optim', constants: { OP: targets ? 2 : 0, NESTEROV: this.nesterov, WG } });
    this.params.forEach(([name, p], i) => {
      const target = targets?.[i] ?? null;
      if (!p.grad) {
        if (target) emaUpdate([target], [p], ema!.alpha);
        return;
      }
      let buf = this.buffers.get(name);
      const first = !buf;
      if (!buf) {
        buf = keep(zeros(p.shape));
        this.buffers.set(name, buf);
      }
      e.dispatch(
        kernel,
        { param: p.binding, buf: buf.binding, g: p.grad.binding, ema: target ? target.binding : e.standIn(true) },
        { n: p.size, first: first ? 1 : 0, lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay, alpha: ema?.alpha ?? 0 },
        grid(Math.ceil(p.size / 4 / WG)),
      );
    });
  }

  /** `ema.targets` in this optimiser's parameter order, checked name by name and size by size. */
  private emaTargets(ema: EmaTargets): Tensor[] {
    const byName = new Map(ema.targets);
    if (byName.size !== this.params.length) {
      throw new TakError(`EMA targets: ${byName.size} tensors for an optimiser over ${this.params.length} parameters (pass the teacher's namedParameters())`);
    }
    return this.params.map(([name, p]) => {
      const t = byName.get(name);
      if (!t) throw new TakError(`EMA targets: no tensor named ${name} (pass the teacher's namedParameters())`);
      if (t.size !== p.size) throw new TakError(`EMA: parameter ${name} has ${p.size} elements, its target ${t.size}`);
      return t;
    });
  }

  /** Sets a momentum buffer (restoring a checkpoint); the next step then continues it. */
  restoreBuffer(name: string, values: Float32Array): void {
    const p = this.params.find(([n]) => n === name)?.[1];
    if (!p) throw new TakError(`No parameter ${name} in this optimiser`);
    this.buffers.get(name)?.dispose();
    this.buffers.set(name, keep(fromArray(values, p.shape)));
  }

  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}


/** target ← alpha·target + (1 − alpha)·source, in place, for matching parameter lists. */
export function emaUpdate(target: Tensor[], source: Tensor[], alpha: number): void {
  if (target.length !== source.length) throw new TakError(`EMA over ${target.length} vs ${source.length} parameters`);
  const e = engine();
  const kernel = e.kernel({ file: 'optim', constants: { OP: 1, WG } });
  target.forEach((t, i) => {
    const s = source[i]!;
    if (t.size !== s.size) throw new TakError(`EMA: parameter ${t.name ?? i} has ${t.size} elements, its source ${s.size}`);
    e.dispatch(
      kernel,
      { param: t.binding, buf: e.standIn(true, 0), g: s.binding, ema: e.standIn(true, 1) },
      { n: t.size, first: 0, lr: 0, momentum: 0, weight_decay: 0, alpha },
      grid(Math.ceil(t.size / 4 / WG)),
    );
  });
}
