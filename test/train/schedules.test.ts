import { describe, expect, it } from 'vitest';
import { consistencyWeight, emaAlpha, entropyThreshold, polyLr, sigmoidRampup, contrastActive } from '../../src/train/schedules.js';
import { ClassDistribution } from '../../src/train/class-distribution.js';

describe('TAK schedules (method-spec §4, §7, §8)', () => {
  it('λ_u = 0.1·exp(−5(1 − e/160)²): the values method-spec quotes', () => {
    expect(consistencyWeight(0, 0.1, 160)).toBeCloseTo(6.7e-4, 5);
    expect(consistencyWeight(80, 0.1, 160)).toBeCloseTo(0.0287, 3);
    expect(consistencyWeight(160, 0.1, 160)).toBe(0.1);
    expect(consistencyWeight(500, 0.1, 160)).toBe(0.1);
    expect(sigmoidRampup(3, 0)).toBe(1);
  });

  it('entropy threshold ramps from 0.521 to ln 2 over 100 epochs', () => {
    expect(entropyThreshold(0, 100)).toBeCloseTo(Math.log(2) * (0.75 + 0.25 * Math.exp(-5)), 6);
    expect(entropyThreshold(0, 100)).toBeCloseTo(0.521, 3);
    expect(entropyThreshold(100, 100)).toBeCloseTo(Math.log(2), 9);
  });

  it('poly learning rate, EMA alpha and the contrast start', () => {
    expect(polyLr(0.01, 0, 70000, 0.9)).toBe(0.01);
    expect(polyLr(0.01, 33166, 70000, 0.9)).toBeCloseTo(0.0056, 4);
    expect(emaAlpha(0, 0.99)).toBe(0);
    expect(emaAlpha(9, 0.99)).toBeCloseTo(0.9, 9);
    expect(emaAlpha(10_000, 0.99)).toBe(0.99);
    expect(contrastActive(20, 20)).toBe(false);
    expect(contrastActive(21, 20)).toBe(true);
  });

  it('class distribution: replaced every interval, weights normalised by sum then max', () => {
    const d = new ClassDistribution(3);
    expect(Array.from(d.weights(1))).toEqual([0, 0, 0]);
    d.append([10, 30, 0]);
    d.maybeUpdate(19, 20);
    expect(Array.from(d.weights(1))).toEqual([0, 0, 0]);
    d.append([10, 30, 20]);
    d.maybeUpdate(20, 20);
    const w = Array.from(d.weights(1));
    expect(w[1]).toBeCloseTo(1, 6);
    expect(w[0]).toBeCloseTo(20 / 60, 6);
    expect(w[2]).toBeCloseTo(20 / 60, 6);
    const restored = new ClassDistribution(3);
    restored.restore(JSON.parse(JSON.stringify(d.state())));
    expect(Array.from(restored.weights(2))).toEqual(Array.from(d.weights(2)));
  });
});
