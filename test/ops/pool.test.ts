import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { backward } from '../../src/autograd/graph.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

describe('adaptiveAvgPool3d(1)', () => {
  it('averages every volume, and spreads the gradient evenly', async () => {
    const shape = [2, 3, 5, 6, 7];
    const data = randomArray(numel(shape), 9);
    const x = T.fromArray(data, shape);
    x.requiresGrad = true;
    const y = T.adaptiveAvgPool3d(x, 1);
    expect(y.shape).toEqual([2, 3, 1, 1, 1]);
    const expected = Array.from({ length: 6 }, (_, k) => data.slice(k * 210, (k + 1) * 210).reduce((s, v) => s + v, 0) / 210);
    expectClose(await y.toArray(), expected, 1e-5, 1e-6);
    backward(y, T.fromArray([1, 2, 3, 4, 5, 6], [2, 3, 1, 1, 1]));
    const g = await x.grad!.toArray();
    expectClose(g, Float64Array.from(data, (_, i) => (Math.floor(i / 210) + 1) / 210), 1e-6, 1e-7);
  });

  it('names the unsupported output size', () => {
    expect(() => T.adaptiveAvgPool3d(T.zeros([1, 1, 4, 4, 4]), 2)).toThrow(/only output size 1/);
  });
});
