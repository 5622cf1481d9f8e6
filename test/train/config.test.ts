import { describe, expect, it } from 'vitest';
import { PAPER, resolveConfig } from '../../src/train/config.js';
import '../../src/train/presets.js';
import { TakNet } from '../../src/models/tak-net.js';
import { networkConfig } from '../../src/train/trainer.js';
import type { TrainingData } from '../../src/train/training-data.js';
import { useEngine } from '../support/engine.js';

useEngine();

describe('training configuration', () => {
  it('the paper preset keeps the paper values; cpu is a scaled copy that validates', () => {
    const paper = resolveConfig('paper', undefined, {});
    expect([paper.patch, paper.nFilters, paper.cubes, paper.labeledBatch, paper.unlabeledBatch, paper.lr]).toEqual([96, 16, 3, 2, 2, 0.01]);
    const cpu = resolveConfig('cpu', undefined, { lr: 0.05 });
    expect(cpu.patch / cpu.cubes).toBe(32);
    expect(cpu.lr).toBe(0.05);
    expect(Object.keys(cpu).sort()).toEqual(Object.keys(PAPER).sort());
  });

  it('bad overrides name the setting and the value', () => {
    expect(() => resolveConfig('cpu', undefined, { lr: 'fast' })).toThrow(/lr must be a number/);
    expect(() => resolveConfig('cpu', undefined, { patch: 48 })).toThrow(/cubes of 24 voxels/);
    expect(() => resolveConfig('cpu', undefined, { learningRate: 1 })).toThrow(/unknown setting "learningRate"/);
    expect(() => resolveConfig('tiny', undefined, {})).toThrow(/Unknown preset "tiny"; presets: paper, cpu/);
  });
});

describe('controllerInit', () => {
  it("reaches the network: the cpu preset's controller starts with a zero bias, the paper's with PyTorch's uniform one", async () => {
    const data = { classes: 16 } as TrainingData;
    const biasOf = async (preset: string) => {
      const config = resolveConfig(preset, undefined, { nFilters: 4, patch: 32, cubes: 2 });
      const net = new TakNet(networkConfig(config, data, 512));
      const bias = Float32Array.from(await net.namedParameters().find(([k]) => k === 'controller.bias')![1].toArray());
      for (const p of net.parameters()) p.dispose();
      return bias;
    };
    expect((await biasOf('cpu')).every((v) => v === 0)).toBe(true);
    const paper = await biasOf('paper');
    const bound = 1 / Math.sqrt(2 * 16 * 4); // fan_in = cat[g, clip] = 2 · 16f
    expect(paper.some((v) => v !== 0)).toBe(true);
    expect(paper.every((v) => Math.abs(v) <= bound)).toBe(true);
  });
});
