import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { backward } from '../../src/autograd/graph.js';
import { liveBuffers, useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

const f = Math.fround;

/** PyTorch's source coordinate for one axis (float32, as in UpSample.h). */
function source(j: number, nIn: number, nOut: number, factor: number | undefined, mode: 'nearest' | 'trilinear', alignCorners: boolean) {
  const scale = factor !== undefined ? f(1 / factor) : f(nIn / nOut);
  if (mode === 'nearest') {
    const i = nOut === nIn ? j : nOut === 2 * nIn ? j >> 1 : Math.min(Math.floor(f(j * scale)), nIn - 1);
    return [[i, 1]] as [number, number][];
  }
  const s = alignCorners ? (nOut > 1 ? f((nIn - 1) / (nOut - 1)) : 0) : scale;
  const src = alignCorners ? f(s * j) : Math.max(f(f(s * f(j + 0.5)) - 0.5), 0);
  const i0 = Math.floor(src);
  const i1 = i0 + (i0 < nIn - 1 ? 1 : 0);
  const l1 = Math.min(Math.max(f(src - i0), 0), 1);
  return [[i0, 1 - l1], [i1, l1]] as [number, number][];
}

/** Direct (non-separable) float64 resize of [N, C, D, H, W] and the adjoint of Σ gy·y. */
function reference(x: ArrayLike<number>, shape: number[], size: number[], factors: (number | undefined)[], mode: 'nearest' | 'trilinear', alignCorners = false, gy?: ArrayLike<number>) {
  const [n, c, ...inS] = shape as [number, number, number, number, number];
  const y = new Float64Array(n * c * numel(size));
  const dx = new Float64Array(x.length);
  const axes = [0, 1, 2].map((a) => Array.from({ length: size[a]! }, (_, j) => source(j, inS[a]!, size[a]!, factors[a], mode, alignCorners)));
  for (let b = 0; b < n * c; b++) {
    for (let d = 0; d < size[0]!; d++) for (let h = 0; h < size[1]!; h++) for (let w = 0; w < size[2]!; w++) {
      const yi = ((b * size[0]! + d) * size[1]! + h) * size[2]! + w;
      for (const [id, wd] of axes[0]![d]!) for (const [ih, wh] of axes[1]![h]!) for (const [iw, ww] of axes[2]![w]!) {
        const xi = ((b * inS[0]! + id) * inS[1]! + ih) * inS[2]! + iw;
        y[yi] += wd * wh * ww * x[xi]!;
        if (gy) dx[xi] += wd * wh * ww * gy[yi]!;
      }
    }
  }
  return { y, dx };
}

const CASES: [string, number[], { size?: [number, number, number]; scaleFactor?: number | [number, number, number]; mode: 'nearest' | 'trilinear'; alignCorners?: boolean }][] = [
  ['trilinear x2 (V-Net up)', [1, 2, 3, 4, 5], { scaleFactor: 2, mode: 'trilinear' }],
  ['trilinear to an odd size', [2, 1, 5, 3, 7], { size: [3, 8, 4], mode: 'trilinear' }],
  ['trilinear align corners', [1, 2, 4, 3, 3], { size: [7, 5, 2], mode: 'trilinear', alignCorners: true }],
  ['trilinear scale [0.5, 1.5, 0.75]', [1, 1, 6, 4, 8], { scaleFactor: [0.5, 1.5, 0.75], mode: 'trilinear' }],
  ['nearest down x0.5 (labels)', [1, 1, 8, 6, 10], { scaleFactor: 0.5, mode: 'nearest' }],
  ['nearest to an odd size', [2, 3, 5, 7, 4], { size: [3, 9, 6], mode: 'nearest' }],
];

describe('interpolate3d matches PyTorch formulas in float64', () => {
  for (const [i, [label, shape, options]] of CASES.entries()) {
    it(label, async () => {
      const data = randomArray(numel(shape), 400 + i);
      const x = T.fromArray(data, shape);
      x.requiresGrad = true;
      const y = T.interpolate3d(x, options);
      const factors = [0, 1, 2].map((a) => (options.scaleFactor === undefined ? undefined : typeof options.scaleFactor === 'number' ? options.scaleFactor : options.scaleFactor[a]));
      const size = options.size ?? shape.slice(2).map((d, a) => Math.floor(d * factors[a]!));
      expect(y.shape).toEqual([shape[0], shape[1], ...size]);
      const gy = randomArray(y.size, 500 + i);
      const ref = reference(data, shape, size, factors, options.mode, options.alignCorners, gy);
      expectClose(await y.toArray(), ref.y, 1e-5, 1e-6);
      backward(y, T.fromArray(gy, y.shape));
      expectClose(await x.grad!.toArray(), ref.dx, 1e-5, 1e-5);
    });
  }

  it('down-samples integer label maps bit for bit', async () => {
    const shape = [1, 1, 6, 5, 8];
    const labels = Int32Array.from({ length: numel(shape) }, (_, i) => (i * 7919) % 16);
    const y = T.interpolate3d(T.fromArray(labels, shape), { size: [3, 3, 4] });
    expect(y.dtype).toBe('i32');
    expect(Array.from(await y.toArray())).toEqual(Array.from(reference(labels, shape, [3, 3, 4], [undefined, undefined, undefined], 'nearest').y));
  });

  it('rejects contradictory options', () => {
    expect(() => T.interpolate3d(T.zeros([1, 1, 2, 2, 2]), { mode: 'trilinear' })).toThrow(/exactly one of size and scaleFactor/);
    expect(() => T.interpolate3d(T.zeros([1, 1, 2, 2, 2]), { size: 3, alignCorners: true })).toThrow(/alignCorners only applies/);
    expect(() => T.interpolate3d(T.zeros([1, 1, 2, 2, 2], 'i32'), { size: 3, mode: 'trilinear' })).toThrow(/trilinear needs an f32/);
  });
});

describe('resize memory', () => {
  it('forward + backward + dispose returns every buffer', async () => {
    const step = async () => {
      const x = T.randn([1, 2, 3, 4, 5]);
      x.requiresGrad = true;
      const y = T.interpolate3d(x, { scaleFactor: 2, mode: 'trilinear' });
      backward(T.sum(y));
      await x.grad!.toArray();
      x.dispose();
      y.dispose();
    };
    await T.asyncScope(step);
    const before = liveBuffers();
    for (let i = 0; i < 3; i++) await T.asyncScope(step);
    expect(liveBuffers()).toBe(before);
  });
});
