import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { Conv3d } from '../../src/nn/layers.js';
import { Sgd, emaUpdate } from '../../src/nn/optim.js';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from '../../src/nn/safetensors.js';
import { readTorchStateDict } from '../../src/nn/torch-load.js';
import { useEngine } from '../support/engine.js';
import { expectClose, numel, randomArray } from '../support/reference.js';

useEngine();

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn('python3-torch is not installed: the PyTorch cross-checks in test/nn are skipped (apt-get install python3-torch)');

/** torch.optim.SGD(momentum, weight_decay, nesterov), dampening 0, in float64. */
function sgdReference(p: Float64Array, grads: Float64Array[], lr: number, momentum: number, wd: number): Float64Array {
  const buf = new Float64Array(p.length);
  grads.forEach((g, step) => {
    for (let i = 0; i < p.length; i++) {
      let d = g[i]! + wd * p[i]!;
      buf[i] = step === 0 ? d : momentum * buf[i]! + d;
      d = d + momentum * buf[i]!;
      p[i] = p[i]! - lr * d;
    }
  });
  return p;
}

describe('initialisation', () => {
  const moments = (v: Float32Array) => {
    let m = 0;
    for (const x of v) m += x;
    m /= v.length;
    let s = 0;
    for (const x of v) s += (x - m) ** 2;
    return { mean: m, std: Math.sqrt(s / v.length), max: v.reduce((a, x) => Math.max(a, Math.abs(x)), 0) };
  };

  it('Conv3d: PyTorch default U(±1/√fan_in) for weight and bias; kaiming: N(0, 2/fan_in) and a zero bias', async () => {
    T.manualSeed(5);
    const fan = 512; // the controller at the paper width: 512 → 153
    const plain = new Conv3d(fan, 153, 1);
    const he = new Conv3d(fan, 153, 1, { init: 'kaiming' });
    const w = moments((await plain.weight.toArray()) as Float32Array);
    expect(w.max).toBeLessThanOrEqual(1 / Math.sqrt(fan));
    expect(w.std).toBeCloseTo(1 / Math.sqrt(3 * fan), 3);
    const b = (await plain.bias!.toArray()) as Float32Array;
    expect(b.some((x) => x !== 0)).toBe(true);
    const k = moments((await he.weight.toArray()) as Float32Array);
    expect(Math.abs(k.mean)).toBeLessThan(0.002);
    expect(k.std / Math.sqrt(2 / fan)).toBeGreaterThan(0.98);
    expect(k.std / Math.sqrt(2 / fan)).toBeLessThan(1.02);
    expect([...((await he.bias!.toArray()) as Float32Array)].every((x) => x === 0)).toBe(true);
    for (const t of [...plain.parameters(), ...he.parameters()]) t.dispose();
  });
});

describe('optimiser and EMA', () => {
  it('SGD with Nesterov momentum and weight decay matches PyTorch step for step', async () => {
    const n = 37;
    const init = randomArray(n, 1);
    const grads = [2, 3, 4].map((s) => randomArray(n, s));
    const p = T.keep(T.fromArray(init));
    p.requiresGrad = true;
    const opt = new Sgd([['w', p]], { lr: 0.01, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
    for (const g of grads) {
      p.grad = T.keep(T.fromArray(g));
      opt.step();
      opt.zeroGrad();
    }
    const got = await p.toArray();
    expectClose(got, sgdReference(Float64Array.from(init), grads.map((g) => Float64Array.from(g)), 0.01, 0.9, 1e-4), 1e-6, 1e-7);
    if (hasTorch) {
      const script = `
import torch, json, sys
d = json.load(sys.stdin)
p = torch.nn.Parameter(torch.tensor(d['init']))
opt = torch.optim.SGD([p], lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
for g in d['grads']:
    p.grad = torch.tensor(g); opt.step()
print(json.dumps(p.detach().tolist()))`;
      const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ init: Array.from(init), grads: grads.map((g) => Array.from(g)) }), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expectClose(got, JSON.parse(r.stdout) as number[], 1e-6, 1e-7);
    }
    opt.dispose();
    p.dispose();
  });

  it('a step with EMA targets equals step() and then emaUpdate(), for every parameter', async () => {
    const shapes = [[37], [2, 8], [5]];
    const make = (seed: number) => shapes.map((shape, i) => T.keep(T.fromArray(randomArray(numel(shape), seed + i), shape)));
    const [fusedP, plainP, fusedT, plainT] = [make(10), make(10), make(20), make(20)];
    const named = (ts: T.Tensor[]) => ts.map((t, i) => [`p${i}`, t] as [string, T.Tensor]);
    const options = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, nesterov: true };
    const fused = new Sgd(named(fusedP), options), plain = new Sgd(named(plainP), options);
    for (const [k, alpha] of [0, 0.5, 0.99].entries()) {
      // p2 never gets a gradient: not stepped, but its target still moves toward it.
      for (const [i, ps] of [fusedP, plainP].entries()) {
        ps.slice(0, 2).forEach((p, j) => (p.grad = T.keep(T.fromArray(randomArray(p.size, 30 + 10 * k + j), [...p.shape]))));
        if (i === 0) fused.step({ targets: named(fusedT), alpha });
        else {
          plain.step();
          emaUpdate(plainT, plainP, alpha);
        }
      }
      fused.zeroGrad();
      plain.zeroGrad();
    }
    for (const [a, b] of [...fusedP.map((t, i) => [t, plainP[i]!]), ...fusedT.map((t, i) => [t, plainT[i]!])]) {
      expect(Array.from(await a!.toArray())).toEqual(Array.from(await b!.toArray()));
    }
    expect(Array.from(await fusedT[2]!.toArray())).not.toEqual(Array.from(await make(20)[2]!.toArray()));
    expect(() => fused.step({ targets: [['p0', fusedT[0]!]], alpha: 0.5 })).toThrow(/1 tensors for an optimiser over 3 parameters/);
    expect(() => fused.step({ targets: named(fusedT).map(([n, t], i) => [i === 1 ? 'other' : n, t] as [string, T.Tensor]), alpha: 0.5 })).toThrow(/no tensor named p1/);
    fused.dispose();
    plain.dispose();
  });

  it('EMA moves the teacher toward the student', async () => {
    const t = T.fromArray([1, 2, 3, 4, 5]);
    const s = T.fromArray([3, 2, 1, 0, -1]);
    emaUpdate([t], [s], 0.75);
    expectClose(await t.toArray(), [1.5, 2, 2.5, 3, 3.5]);
  });
});

describe('state IO', () => {
  it('safetensors round-trips tensors and metadata', () => {
    const bytes = encodeSafetensors(
      [
        ['a.weight', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
        ['steps', { dtype: 'I64', shape: [], data: BigInt64Array.from([7n]) }],
      ],
      { preset: 'cpu' },
    );
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n);
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ preset: 'cpu' });
    expect(Array.from(back.tensors.get('a.weight')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.get('steps')!.shape).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'tak-st-'));
    writeSafetensors(join(dir, 'x.safetensors'), [['x', { dtype: 'F32', shape: [1], data: Float32Array.from([9]) }]]);
    expect(readSafetensors(join(dir, 'x.safetensors')).tensors.get('x')!.shape).toEqual([1]);
    expect(() => decodeSafetensors(bytes.slice(0, 20))).toThrow(/truncated/);
  });

  it.skipIf(!hasTorch)('reads a state_dict written by PyTorch, DataParallel prefix and BatchNorm counters included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tak-pt-'));
    const file = join(dir, 'sd.pth');
    const script = `
import torch
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3), torch.nn.BatchNorm1d(2), torch.nn.Linear(3, 2))
m = torch.nn.DataParallel(m)
sd = m.state_dict()
sd['module.2.weight'] = sd['module.2.weight'].t().contiguous().t()   # a strided (transposed) tensor
torch.save(sd, '${file}')
print(float(m.module[0].weight.flatten()[5]), float(m.module[2].weight[1, 2]))`;
    const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [w5, lin12] = r.stdout.trim().split(/\s+/).map(Number);
    const sd = readTorchStateDict(file);
    expect([...sd.keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '2.weight', '2.bias']);
    expect(sd.get('0.weight')!.shape).toEqual([2, 1, 3, 3, 3]);
    expect(sd.get('0.weight')!.values[5]).toBeCloseTo(w5!, 6);
    expect(sd.get('2.weight')!.values[1 * 3 + 2]).toBeCloseTo(lin12!, 6);
    expect(sd.get('1.num_batches_tracked')!.dtype).toBe('int64');
  });
});
