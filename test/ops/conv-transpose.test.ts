import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { backward } from '../../src/autograd/graph.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';
import { convReference, type ConvSpec, type T3 } from './conv-reference.js';

useEngine();

interface Case {
  label: string;
  x: number[];
  w: number[]; // [Cin, Cout, k..]
  bias?: boolean;
  stride?: T3;
  pad?: [T3, T3];
  dilation?: T3;
  outputPadding?: T3;
}

const CASES: Case[] = [
  { label: 'V-Net up-convolution: 2x2x2 stride 2, 32 -> 16', x: [2, 32, 2, 3, 4], w: [32, 16, 2, 2, 2], bias: true, stride: [2, 2, 2] },
  { label: '2x2x2 stride 2, Cout 5, odd channels', x: [1, 3, 3, 1, 4], w: [3, 5, 2, 2, 2], bias: true, stride: [2, 2, 2] },
  { label: '2x2x2 stride 2 on an odd grid (W padded to 4 for the scatter)', x: [1, 2, 3, 3, 3], w: [2, 3, 2, 2, 2], stride: [2, 2, 2] },
  { label: "2x2x2 stride 2 from a 32³ cube's 2³ bottleneck, 16 -> 8", x: [3, 16, 2, 2, 2], w: [16, 8, 2, 2, 2], bias: true, stride: [2, 2, 2] },
  { label: 'kernel 3 stride 2 pad 1 outputPadding 1', x: [2, 3, 3, 2, 4], w: [3, 4, 3, 3, 3], bias: true, stride: [2, 2, 2], pad: [[1, 1, 1], [1, 1, 1]], outputPadding: [1, 1, 1] },
  { label: 'stride 1 kernel [2,3,1], dilation 2, asymmetric pads', x: [1, 2, 4, 5, 3], w: [2, 3, 2, 3, 1], dilation: [2, 1, 1], pad: [[0, 1, 0], [1, 0, 0]] },
];

function spec(c: Case, seed: number): ConvSpec {
  return {
    x: randomArray(numel(c.x), seed),
    xShape: c.x,
    w: randomArray(numel(c.w), seed + 1, -0.5, 0.5),
    wShape: c.w,
    bias: c.bias ? randomArray(c.w[1]!, seed + 2) : null,
    stride: c.stride ?? [1, 1, 1],
    padBefore: c.pad?.[0] ?? [0, 0, 0],
    padAfter: c.pad?.[1] ?? [0, 0, 0],
    dilation: c.dilation ?? [1, 1, 1],
    outputPadding: c.outputPadding ?? [0, 0, 0],
    transposed: true,
  };
}

function run(s: ConvSpec, x: T.Tensor, w: T.Tensor, b: T.Tensor | null): T.Tensor {
  return T.convTranspose3d(x, w, b, {
    stride: s.stride,
    padding: s.padBefore.map((p, a) => [p, s.padAfter[a]!] as [number, number]),
    dilation: s.dilation,
    outputPadding: s.outputPadding,
  });
}

describe('convTranspose3d matches float64', () => {
  for (const [i, c] of CASES.entries()) {
    it(c.label, async () => {
      const s = spec(c, 1200 + 10 * i);
      const yShape = convReference(s).yShape;
      const gy = randomArray(numel(yShape), 1250 + i);
      const ref = convReference(s, gy);
      const x = T.fromArray(s.x, s.xShape);
      const w = T.fromArray(s.w, s.wShape);
      const b = s.bias ? T.fromArray(s.bias) : null;
      for (const t of [x, w, b]) if (t) t.requiresGrad = true;
      const y = run(s, x, w, b);
      expect(y.shape).toEqual(yShape);
      expectClose(await y.toArray(), ref.y, 1e-5, 2e-6 * numel(c.w.slice(1)));
      backward(y, T.fromArray(gy, yShape));
      const tol = 2e-6 * Math.sqrt(numel(yShape));
      expectClose(await x.grad!.toArray(), ref.dx!, 1e-4, tol);
      expectClose(await w.grad!.toArray(), ref.dw!, 1e-4, tol * 4);
      if (b) expectClose(await b.grad!.toArray(), ref.db!, 1e-4, tol);
    });
  }

  it('rejects an output padding PyTorch rejects', () => {
    expect(() => T.convTranspose3d(T.zeros([1, 2, 3, 3, 3]), T.zeros([2, 2, 2, 2, 2]), null, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding/);
  });
});

describe('an activation feeding two transposed convolutions', () => {
  it('adds the second input gradient into the first (conv3d epilogue)', async () => {
    // h = 2x (not a leaf): backward() offers the first VJP's dx to the second, which adds into it.
    const cases: Case[] = [
      { label: '', x: [2, 3, 2, 3, 4], w: [3, 4, 2, 2, 2], stride: [2, 2, 2] },
      { label: '', x: [2, 3, 2, 3, 4], w: [3, 2, 3, 3, 3], stride: [2, 2, 2], pad: [[1, 1, 1], [1, 1, 1]], outputPadding: [1, 1, 1] },
    ];
    const x = randomArray(numel(cases[0]!.x), 1500);
    const specs = cases.map((c, i) => ({ ...spec(c, 1510 + 10 * i), x: Float32Array.from(x, (v) => 2 * v) }));
    const xt = T.fromArray(x, cases[0]!.x);
    xt.requiresGrad = true;
    const h = T.mul(xt, 2);
    const expected = new Float64Array(x.length);
    let loss: T.Tensor | null = null;
    for (const [i, s] of specs.entries()) {
      const y = run(s, h, T.fromArray(s.w, s.wShape), null);
      const gy = randomArray(y.size, 1550 + i);
      const term = T.sum(T.mul(y, T.fromArray(gy, y.shape)));
      loss = loss ? T.add(loss, term) : term;
      convReference(s, gy).dx!.forEach((v, j) => (expected[j] += 2 * v));
    }
    backward(loss!);
    expectClose(await xt.grad!.toArray(), expected, 1e-4, 1e-4);
  });
});

describe('a transposed-convolution weight over two backward passes', () => {
  it('adds the second weight gradient into the first in place', async () => {
    const c: Case = { label: '', x: [2, 3, 2, 3, 4], w: [3, 4, 2, 2, 2], stride: [2, 2, 2] };
    const s1 = spec(c, 1600), s2 = spec(c, 1610);
    const w = T.fromArray(s1.w, s1.wShape);
    w.requiresGrad = true;
    const yShape = convReference(s1).yShape;
    const gy1 = randomArray(numel(yShape), 1620), gy2 = randomArray(numel(yShape), 1621);
    backward(run(s1, T.fromArray(s1.x, s1.xShape), w, null), T.fromArray(gy1, yShape));
    const first = w.grad;
    backward(run(s2, T.fromArray(s2.x, s2.xShape), w, null), T.fromArray(gy2, yShape));
    expect(w.grad).toBe(first); // accumulated by the weight-gradient kernel, not by an add
    const dw1 = convReference(s1, gy1).dw!, dw2 = convReference({ ...s2, w: s1.w }, gy2).dw!;
    expectClose(await w.grad!.toArray(), Array.from(dw1, (v, i) => v + dw2[i]!), 1e-4, 1e-4);
  });
});
