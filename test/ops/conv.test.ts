import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { backward } from '../../src/autograd/graph.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { setWeightGradientWorkgroups } from '../../src/ops/conv-kernels.js';
import { liveBuffers, useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';
import { convReference, type ConvSpec, type T3 } from './conv-reference.js';

useEngine();

interface Case {
  label: string;
  x: number[];
  w: number[];
  bias?: boolean;
  stride?: T3;
  pad?: [T3, T3];
  dilation?: T3;
  relu?: boolean;
}

// Each fast loader, every TM tile height, several row tiles, and the general path on odd shapes.
const CASES: Case[] = [
  { label: '3x3x3 pad 1 (row loader), 32 -> 32', x: [1, 32, 3, 4, 16], w: [32, 32, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]] },
  { label: '3x3x3 pad 1, Cin 1, Cout 5 (TM 8), batch 3', x: [3, 1, 5, 6, 8], w: [5, 1, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]] },
  { label: '3x3x3 pad 1, Cout 40 (two row tiles), ReLU', x: [2, 3, 4, 3, 12], w: [40, 3, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]], relu: true },
  { label: '2x2x2 stride 2 (pair loader), Cout 12', x: [2, 5, 4, 6, 8], w: [12, 5, 2, 2, 2], stride: [2, 2, 2] },
  // A 32³ cube's last down-convolution: dy is 2³, narrower than the scatter's 4 columns (padded).
  { label: '2x2x2 stride 2 onto a 2³ grid, Cout 10', x: [2, 6, 4, 4, 4], w: [10, 6, 2, 2, 2], stride: [2, 2, 2] },
  { label: '1x1x1 (point loader), Cin 6, Cout 20', x: [2, 6, 3, 2, 4], w: [20, 6, 1, 1, 1], bias: true },
  { label: 'general: odd W, pad 1', x: [2, 3, 5, 4, 7], w: [4, 3, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]] },
  { label: 'general: stride 2, kernel 3, asymmetric pads', x: [1, 2, 7, 6, 9], w: [3, 2, 3, 3, 3], stride: [2, 2, 2], pad: [[1, 0, 2], [0, 1, 1]] },
  { label: 'general: dilation 2, kernel [2,3,1]', x: [2, 2, 6, 7, 5], w: [6, 2, 2, 3, 1], dilation: [2, 2, 1], pad: [[0, 2, 0], [1, 0, 0]] },
  { label: 'row loader in w, strided and dilated in d/h', x: [1, 4, 9, 7, 8], w: [7, 4, 2, 3, 3], stride: [2, 3, 1], dilation: [2, 1, 1], pad: [[1, 0, 1], [0, 2, 1]] },
];

function spec(c: Case, seed: number): ConvSpec {
  const cout = c.w[0]!;
  return {
    x: randomArray(numel(c.x), seed),
    xShape: c.x,
    w: randomArray(numel(c.w), seed + 1, -0.5, 0.5),
    wShape: c.w,
    bias: c.bias ? randomArray(cout, seed + 2) : null,
    stride: c.stride ?? [1, 1, 1],
    padBefore: c.pad?.[0] ?? [0, 0, 0],
    padAfter: c.pad?.[1] ?? [0, 0, 0],
    dilation: c.dilation ?? [1, 1, 1],
  };
}

function run(s: ConvSpec, relu: boolean, x: T.Tensor, w: T.Tensor, b: T.Tensor | null): T.Tensor {
  return T.conv3d(x, w, b, {
    stride: s.stride,
    padding: s.padBefore.map((p, a) => [p, s.padAfter[a]!] as [number, number]),
    dilation: s.dilation,
    relu,
  });
}

describe('conv3d forward matches float64', () => {
  for (const [i, c] of CASES.entries()) {
    it(c.label, async () => {
      const s = spec(c, 900 + 10 * i);
      const ref = convReference(s, undefined, c.relu);
      const y = run(s, c.relu ?? false, T.fromArray(s.x, s.xShape), T.fromArray(s.w, s.wShape), s.bias ? T.fromArray(s.bias) : null);
      expect(y.shape).toEqual(ref.yShape);
      const k = numel(c.w.slice(1));
      expectClose(await y.toArray(), ref.y, 1e-5, 2e-6 * k);
    });
  }
});

describe('conv3d gradients match the float64 VJP', () => {
  for (const [i, c] of CASES.entries()) {
    it(c.label, async () => {
      const s = spec(c, 1900 + 10 * i);
      const yShape = convReference(s).yShape;
      const gy = randomArray(numel(yShape), 1950 + i);
      const ref = convReference(s, gy, c.relu);
      const x = T.fromArray(s.x, s.xShape);
      const w = T.fromArray(s.w, s.wShape);
      const b = s.bias ? T.fromArray(s.bias) : null;
      for (const t of [x, w, b]) if (t) t.requiresGrad = true;
      backward(run(s, c.relu ?? false, x, w, b), T.fromArray(gy, yShape));
      const tol = 2e-6 * Math.sqrt(numel(yShape));
      expectClose(await x.grad!.toArray(), ref.dx!, 1e-4, tol);
      expectClose(await w.grad!.toArray(), ref.dw!, 1e-4, tol * 4);
      if (b) expectClose(await b.grad!.toArray(), ref.db!, 1e-4, tol);
    });
  }
});

describe('tensors over the binding limit', () => {
  it('are split by sample with identical results', async () => {
    const s = spec({ label: '', x: [3, 4, 8, 8, 8], w: [6, 4, 3, 3, 3], pad: [[1, 1, 1], [1, 1, 1]] }, 77);
    const x = T.fromArray(s.x, s.xShape), w = T.fromArray(s.w, s.wShape);
    const whole = await run(s, false, x, w, null).toArray();
    const previous = capBindingBytes(6 * 8 * 8 * 8 * 4 + 256); // one sample of y per binding (x and the packed weights fit whole)
    try {
      expectClose(await run(s, false, x, w, null).toArray(), whole, 0, 0);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('give weight and bias gradients summed over the runs (float64 reference)', async () => {
    // One sample of x per binding: three runs, whose split sums the later runs add to dW and db.
    const s = spec({ label: '', x: [3, 4, 8, 8, 8], w: [6, 4, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]] }, 78);
    const yShape = convReference(s).yShape;
    const gy = randomArray(numel(yShape), 79);
    const ref = convReference(s, gy);
    const x = T.fromArray(s.x, s.xShape), w = T.fromArray(s.w, s.wShape), b = T.fromArray(s.bias!);
    w.requiresGrad = true;
    b.requiresGrad = true;
    const previous = capBindingBytes(6 * 8 * 8 * 8 * 4 + 256);
    try {
      backward(run(s, false, x, w, b), T.fromArray(gy, yShape));
      const tol = 1e-5 * Math.sqrt(numel(yShape));
      expectClose(await w.grad!.toArray(), ref.dw!, 1e-4, tol);
      expectClose(await b.grad!.toArray(), ref.db!, 1e-4, tol);
    } finally {
      capBindingBytes(previous);
    }
  });

  it('are refused with the limit and the tensor named when one sample does not fit', () => {
    const x = T.zeros([1, 4, 4, 4, 8]), w = T.zeros([2, 4, 3, 3, 3]);
    const previous = capBindingBytes(1024);
    try {
      expect(() => T.conv3d(x, w, null, { padding: 1 })).toThrow(/maxStorageBufferBindingSize of 1024 bytes/);
    } finally {
      capBindingBytes(previous);
    }
  });
});

describe('conv3d gradients accumulated by the weight-gradient kernel', () => {
  const c: Case = { label: '', x: [2, 3, 4, 4, 8], w: [5, 3, 3, 3, 3], bias: true, pad: [[1, 1, 1], [1, 1, 1]] };
  const s1 = spec(c, 3100), s2 = spec(c, 3200);
  const yShape = convReference(s1).yShape;
  const gy1 = randomArray(numel(yShape), 3101), gy2 = randomArray(numel(yShape), 3201);
  // Weights and bias of s1 used on both inputs: d/dw = VJP(x1, gy1) + VJP(x2, gy2).
  const ref1 = convReference(s1, gy1);
  const ref2 = convReference({ ...s2, w: s1.w, bias: s1.bias }, gy2);
  const expected = (a: Float64Array | number[], b: Float64Array | number[]) => Array.from(a, (v, i) => v + b[i]!);
  const tol = 4e-6 * Math.sqrt(numel(yShape));

  it('a weight used twice in one graph', async () => {
    const w = T.fromArray(s1.w, s1.wShape), b = T.fromArray(s1.bias!);
    w.requiresGrad = true;
    b.requiresGrad = true;
    const y1 = run(s1, false, T.fromArray(s1.x, s1.xShape), w, b);
    const y2 = run(s1, false, T.fromArray(s2.x, s2.xShape), w, b);
    backward(T.add(T.mul(y1, T.fromArray(gy1, yShape)), T.mul(y2, T.fromArray(gy2, yShape))), T.ones(yShape));
    expectClose(await w.grad!.toArray(), expected(ref1.dw!, ref2.dw!), 1e-4, tol);
    expectClose(await b.grad!.toArray(), expected(ref1.db!, ref2.db!), 1e-4, tol);
  });

  it('two backward passes, and a gradient someone else holds is not written in place', async () => {
    const w = T.fromArray(s1.w, s1.wShape), b = T.fromArray(s1.bias!);
    w.requiresGrad = true;
    b.requiresGrad = true;
    backward(run(s1, false, T.fromArray(s1.x, s1.xShape), w, b), T.fromArray(gy1, yShape));
    const first = T.reshape(b.grad!, [5]); // a view shares b.grad's memory: no in-place add into it
    const before = Array.from(await first.toArray());
    backward(run(s1, false, T.fromArray(s2.x, s2.xShape), w, b), T.fromArray(gy2, yShape));
    expectClose(await w.grad!.toArray(), expected(ref1.dw!, ref2.dw!), 1e-4, tol);
    expectClose(await b.grad!.toArray(), expected(ref1.db!, ref2.db!), 1e-4, tol);
    expect(Array.from(await first.toArray())).toEqual(before);
  });
});

describe('an activation feeding several convolutions', () => {
  // h = 2x (not a leaf) feeds convolutions whose input gradients take every form — stride 1 (row
  // loader; on an odd W the padded path, which does not accumulate), the 2×2×2 scatter and the
  // transposed gather (vec4 and scalar stores) — and backward() offers each the gradient so far to
  // add into. dx = 2·Σ dx_i.
  const groups: { label: string; xShape: number[]; convs: Omit<Case, 'label' | 'x'>[] }[] = [
    {
      label: 'W % 4 == 0: row loader, scatter, gather',
      xShape: [2, 3, 4, 4, 8],
      convs: [
        { w: [5, 3, 3, 3, 3], pad: [[1, 1, 1], [1, 1, 1]] },
        { w: [4, 3, 2, 2, 2], stride: [2, 2, 2] },
        { w: [2, 3, 3, 3, 3], stride: [2, 2, 2], pad: [[1, 0, 1], [0, 1, 1]] },
      ],
    },
    {
      label: 'odd grid: padded row loader, gather with scalar stores',
      xShape: [1, 2, 3, 5, 7],
      convs: [
        { w: [3, 2, 3, 3, 3], pad: [[1, 1, 1], [1, 1, 1]] },
        { w: [4, 2, 3, 3, 3], stride: [2, 2, 2], pad: [[1, 1, 1], [1, 1, 1]] },
        { w: [2, 2, 1, 2, 2], dilation: [1, 2, 1] },
      ],
    },
  ];
  for (const [gi, group] of groups.entries()) {
    it(`adds every input gradient into the one so far (${group.label})`, async () => {
      const x = randomArray(numel(group.xShape), 3400 + 100 * gi);
      const h = Float32Array.from(x, (v) => 2 * v);
      const specs = group.convs.map((c, i) => ({ ...spec({ ...c, label: '', x: group.xShape }, 3410 + 100 * gi + 10 * i), x: h }));
      const gys = specs.map((s, i) => randomArray(numel(convReference(s).yShape), 3450 + 100 * gi + i));
      const xt = T.fromArray(x, group.xShape);
      xt.requiresGrad = true;
      const ht = T.mul(xt, 2);
      let loss: T.Tensor | null = null;
      for (const [i, s] of specs.entries()) {
        const y = run(s, false, ht, T.fromArray(s.w, s.wShape), null);
        const term = T.sum(T.mul(y, T.fromArray(gys[i]!, y.shape)));
        loss = loss ? T.add(loss, term) : term;
      }
      backward(loss!);
      const expected = new Float64Array(numel(group.xShape));
      for (const [i, s] of specs.entries()) convReference(s, gys[i]).dx!.forEach((v, j) => (expected[j] += 2 * v));
      expectClose(await xt.grad!.toArray(), expected, 1e-4, 1e-4);
    });
  }
});

describe('packed weights are cached until the weights are written', () => {
  const c: Case = { label: '', x: [1, 3, 4, 4, 8], w: [5, 3, 3, 3, 3], pad: [[1, 1, 1], [1, 1, 1]] };
  const s = spec(c, 3300);
  const k = numel(c.w.slice(1));
  const check = async (y: T.Tensor, weights: number[] | Float32Array) => {
    expectClose(await y.toArray(), convReference({ ...s, w: Float32Array.from(weights) }).y, 1e-5, 2e-6 * k);
  };

  it('by an upload, a copy or a dispatch that binds them writable', async () => {
    const e = T.engine();
    const x = T.fromArray(s.x, s.xShape), w = T.fromArray(s.w, s.wShape);
    const d0 = e.stats().dispatches;
    await check(run(s, false, x, w, null), s.w);
    const d1 = e.stats().dispatches;
    await check(run(s, false, x, w, null), s.w); // from the cache: no pack dispatch
    expect(e.stats().dispatches - d1).toBeLessThan(d1 - d0);
    const w2 = randomArray(numel(c.w), 3311, -0.5, 0.5);
    e.upload(w.buffer, Float32Array.from(w2), w.byteOffset);
    await check(run(s, false, x, w, null), w2);
    const w3 = randomArray(numel(c.w), 3312, -0.5, 0.5);
    const source = T.fromArray(w3, s.wShape);
    e.copy(source.buffer, source.byteOffset, w.buffer, w.byteOffset, w.byteLength);
    await check(run(s, false, x, w, null), w3);
    const fill = e.kernel({ file: 'fill', types: { T: 'f32' }, constants: { WG: 64 } });
    e.dispatch(fill, { y: w.binding }, { n: w.size, start: 0.25, step: 0 }, [Math.ceil(w.size / 256)]);
    await check(run(s, false, x, w, null), new Array(w.size).fill(0.25));
  });

  it('and freed with the weights', async () => {
    run(s, false, T.fromArray(s.x, s.xShape), T.fromArray(s.w, s.wShape), null); // the engine's kept dummies exist before counting
    const before = liveBuffers();
    const x = T.fromArray(s.x, s.xShape), w = T.fromArray(s.w, s.wShape);
    run(s, false, x, w, null).dispose();
    x.dispose();
    w.dispose();
    await T.engine().sync();
    expect(liveBuffers()).toBe(before);
  });
});

describe('the weight gradient sized for a GPU', () => {
  // On hardware adapters the split-K grid aims at 16,384 workgroups (1,024 splits here, against 86
  // on lavapipe): the same sums in another grouping, checked against float64 on this adapter.
  it('matches float64 with 1,024 splits', async () => {
    const s = spec({ label: '', x: [1, 2, 64, 64, 64], w: [4, 2, 3, 3, 3], pad: [[1, 1, 1], [1, 1, 1]] }, 4100);
    const yShape = convReference(s).yShape;
    const gy = randomArray(numel(yShape), 4101);
    const ref = convReference(s, gy);
    const previous = setWeightGradientWorkgroups(16384);
    try {
      const dw = T.conv3dWeight(T.fromArray(s.x, s.xShape), s.wShape, T.fromArray(gy, yShape), { padding: 1 });
      expectClose(await dw.toArray(), ref.dw!, 1e-4, 8e-6 * Math.sqrt(numel(yShape)));
    } finally {
      setWeightGradientWorkgroups(previous);
    }
  });
});

describe('conv3d argument errors', () => {
  it('names the mismatched shapes', () => {
    expect(() => T.conv3d(T.zeros([1, 3, 4, 4, 4]), T.zeros([2, 4, 3, 3, 3]))).toThrow(/expects 4 input channels/);
    expect(() => T.conv3d(T.zeros([1, 3, 2, 2, 2]), T.zeros([2, 3, 3, 3, 3]))).toThrow(/smaller than the dilated kernel/);
    expect(() => T.conv3d(T.zeros([1, 3, 4, 4, 4]), T.zeros([2, 3, 3, 3, 3]), T.zeros([3]))).toThrow(/bias must be .* shape \[2\]/);
  });
});

describe('torch.nn.grad-style helpers and memory', () => {
  it('conv3dInput and conv3dWeight match the VJP', async () => {
    const s = spec(CASES[6]!, 3100);
    const yShape = convReference(s).yShape;
    const gy = randomArray(numel(yShape), 3101);
    const ref = convReference(s, gy);
    const options = { stride: s.stride, padding: s.padBefore.map((p, a) => [p, s.padAfter[a]!] as [number, number]), dilation: s.dilation };
    const g = T.fromArray(gy, yShape);
    expectClose(await T.conv3dInput(s.xShape, T.fromArray(s.w, s.wShape), g, options).toArray(), ref.dx!, 1e-4, 1e-4);
    expectClose(await T.conv3dWeight(T.fromArray(s.x, s.xShape), s.wShape, g, options).toArray(), ref.dw!, 1e-4, 1e-4);
    expect(() => T.conv3dInput(s.xShape, T.fromArray(s.w, s.wShape), T.zeros([1, 1, 1, 1, 1]), options)).toThrow(/output gradient has shape/);
  });

  it('forward + backward + dispose returns every buffer', async () => {
    const step = async () => {
      const x = T.randn([2, 3, 4, 4, 8]), w = T.randn([5, 3, 3, 3, 3]), b = T.randn([5]);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const y = T.conv3d(x, w, b, { padding: 1, relu: true });
      backward(y, T.ones(y.shape));
      await x.grad!.toArray();
      for (const t of [x, w, b, y]) t.dispose();
    };
    await T.asyncScope(step); // first run creates the kernels' shared dummy bindings
    const before = liveBuffers();
    for (let i = 0; i < 3; i++) await T.asyncScope(step);
    expect(liveBuffers()).toBe(before);
  });
});
