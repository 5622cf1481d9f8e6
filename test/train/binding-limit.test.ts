import { describe, expect, it } from 'vitest';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { TakNet } from '../../src/models/tak-net.js';
import { Sgd } from '../../src/nn/optim.js';
import { fromArray, manualSeed } from '../../src/tensor/create.js';
import { keep } from '../../src/tensor/tensor.js';
import { ClassDistribution } from '../../src/train/class-distribution.js';
import { resolveConfig } from '../../src/train/config.js';
import '../../src/train/presets.js';
import { takStep, type StepLosses } from '../../src/train/tak-step.js';
import { Rng } from '../../src/util/random.js';
import { useEngine } from '../support/engine.js';

useEngine();

// The paper's batch (2 + 2 × 96³, 16 filters) makes 226 MB activations, over lavapipe's 128 MiB
// storage-binding limit: every op must split its dispatches. Here a 1 MiB cap plays that limit for
// a tiny network (activations of 2 MiB, the location head's 1 MiB weight just fitting), and three
// full iterations (cube mixing, teacher, blending, SupCon, backward, SGD, EMA) must match the
// uncapped ones up to summation order.
const P = 32;
const C = 3;
const D = 64;

async function threeSteps(cap: number | null): Promise<{ losses: StepLosses[]; sumSquares: number }> {
  const previous = capBindingBytes(cap);
  try {
    const config = { ...resolveConfig('cpu', undefined, {}), patch: P, cubes: 2, nFilters: 4, labeledBatch: 2, unlabeledBatch: 2, blendFromIter: 0, contrastStartEpoch: 0 };
    const rng = new Rng(5);
    const image = new Float32Array(4 * P ** 3).map(() => rng.normal());
    const label = new Uint8Array(4 * P ** 3).map((_, i) => ((i >> 7) + (i >> 12)) % C);
    manualSeed(3);
    const textRows = keep(fromArray(new Float32Array(2 * C * D).map(() => rng.normal()), [2 * C, D]));
    const net = () => new TakNet({ classes: C, nFilters: 4, patch: P, cubes: 2, text: true, textDim: D, controllerInit: 'kaiming' });
    const student = net();
    const teacher = net();
    const optimizer = new Sgd(student.namedParameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
    const ctx = { config, student, teacher, textRows, optimizer, distribution: new ClassDistribution(C), classes: C };
    const losses: StepLosses[] = [];
    for (let i = 0; i < 3; i++) {
      const batch = { index: i, epoch: 0, iteration: i, size: 4, patch: P, labeledCount: 2, image, label, caseIds: [] };
      losses.push(await takStep(ctx, batch, i, 1));
    }
    let sumSquares = 0;
    for (const [, p] of student.namedParameters()) for (const v of await p.toArray()) sumSquares += v * v;
    return { losses, sumSquares };
  } finally {
    capBindingBytes(previous);
  }
}

describe('a training iteration over the binding limit', () => {
  it('splits every op and matches the unsplit iteration', async () => {
    const whole = await threeSteps(null);
    const split = await threeSteps((1 << 20) + 256); // one image of an 8-channel 32³ map (1 MiB) per binding
    whole.losses.forEach((l, i) => {
      for (const key of ['loss', 'supervised', 'location', 'consistency', 'contrast'] as const) {
        expect(split.losses[i]![key], `iteration ${i} ${key}`).toBeCloseTo(l[key], 4);
      }
      expect(split.losses[i]!.blended).toBe(l.blended);
    });
    expect(whole.losses[2]!.blended && whole.losses[2]!.contrastActive).toBe(true);
    // Buffers start as NaN here (useEngine poisons them): a finite network after three updates
    // means no kernel read memory it had not written (the 2³-grid down-conv VJP once did).
    expect(Number.isFinite(whole.sumSquares)).toBe(true);
    expect(split.sumSquares / whole.sumSquares).toBeCloseTo(1, 6);
  }, 600_000);
});
