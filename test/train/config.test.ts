import { describe, expect, it } from 'vitest';
import { PAPER, resolveConfig } from '../../src/train/config.js';
import '../../src/train/presets.js';

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
