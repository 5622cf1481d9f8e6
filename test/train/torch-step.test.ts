import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TakNet } from '../../src/models/tak-net.js';
import { readTorchStateDict } from '../../src/nn/torch-load.js';
import { Sgd } from '../../src/nn/optim.js';
import { fromArray } from '../../src/tensor/create.js';
import { keep } from '../../src/tensor/tensor.js';
import { loadWeights } from '../../src/train/checkpoint.js';
import { ClassDistribution } from '../../src/train/class-distribution.js';
import { resolveConfig, type TrainConfig } from '../../src/train/config.js';
import '../../src/train/presets.js';
import { cubePermutation, takStep } from '../../src/train/tak-step.js';
import { Rng } from '../../src/util/random.js';
import { useEngine } from '../support/engine.js';

useEngine();

// One whole training iteration against bench/torch_train.py, an independent PyTorch implementation
// of the same step (its network has upstream's module names): the same weights, batch, text rows,
// cube permutation and class distribution go in; the loss, every updated student parameter, every
// EMA teacher parameter and the BatchNorm running statistics must come out the same. This checks
// the composition the op-level gradient checks cannot: wiring of the encoder, decoder, text head,
// cube mixing and recovery, within-image partition, location head, blending and loss weights.
// Teacher noise is 0 and SupCon off (both draw random numbers the two sides do not share).
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn('python3-torch is not installed: the training-step comparison with PyTorch is skipped (apt-get install python3-torch)');
const peer = fileURLToPath(new URL('../../bench/torch_train.py', import.meta.url));

const C = 4;
const F = 4;
const P = 64; // cube edge 32: PyTorch refuses InstanceNorm over the 1-voxel bottleneck a 16³ cube has
const N = 2;
const D = 24;
const L = 1;
const U = 2;
const ITERATION = 1;
const EPOCH = 6;
const COUNTS = [900, 40, 300, 5]; // the class distribution that weights the cube-wise blending
// A seed whose cube permutation is a 3-cycle at every cube position (no position is its own
// inverse), so a mixing VJP that used the permutation instead of its inverse would show.
const SEED = 5371;

function runPeer(dir: string, config: TrainConfig, source: Int32Array): number {
  const cfg = {
    patch: P, cubes: N, filters: F, classes: C, text_dim: D, text: config.text, contrast: false, blend: true,
    lr: config.lr, momentum: config.momentum, weight_decay: config.weightDecay, nesterov: config.nesterov,
    lr_decay_iters: config.lrDecayIters, lr_power: config.lrPower, ema_decay: config.emaDecay,
    noise_std: 0, noise_clip: config.noiseClip, blend_from_iter: config.blendFromIter, class_log_interval: config.classLogInterval,
    t_dist: config.tDist, consistency_weight: config.consistencyWeight, consistency_ramp_epochs: config.consistencyRampEpochs,
    location_weight: config.locationWeight, contrast_weight: config.contrastWeight, contrast_start_epoch: config.contrastStartEpoch,
  };
  const script = `
import importlib.util, json, os, sys, torch
spec = importlib.util.spec_from_file_location('peer', sys.argv[1]); peer = importlib.util.module_from_spec(spec); spec.loader.exec_module(peer)
out, cfg, source, counts = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
torch.manual_seed(0)
C, P, L, U = cfg['classes'], cfg['patch'], ${L}, ${U}
student = peer.TakNet(C, cfg['filters'], P, cfg['cubes'], cfg['text'], cfg['text_dim'])
teacher = peer.TakNet(C, cfg['filters'], P, cfg['cubes'], cfg['text'], cfg['text_dim'])
teacher.load_state_dict(student.state_dict())
for p in teacher.parameters():
    p.requires_grad_(False)
student.train(); teacher.train()
# Noise plus a different smooth pattern per image, so that sending a cube's gradient to the wrong
# image (a mixing or reassembly error) changes the weight gradients.
ramp = torch.linspace(-1, 1, P)
patterns = [torch.sin(3 * ramp).view(P, 1, 1), torch.cos(5 * ramp).view(1, P, 1), (ramp * ramp).view(1, 1, P)]
x = torch.rand(L + U, 1, P, P, P) + 2 * torch.stack([patterns[b % 3].expand(P, P, P) for b in range(L + U)]).unsqueeze(1)
# Labels in slabs of 4 voxels along w, so every class has connected regions at every scale.
labels = torch.randint(0, C, (L, P, P, P // 4)).repeat_interleave(4, 3)
rows = torch.randn(2 * C, cfg['text_dim']) * 0.5
torch.save(student.state_dict(), os.path.join(out, 'before.pth'))
torch.save({'x': x, 'labels': labels.float(), 'rows': rows}, os.path.join(out, 'batch.pth'))
opt = torch.optim.SGD(student.parameters(), lr=cfg['lr'], momentum=cfg['momentum'], weight_decay=cfg['weight_decay'], nesterov=cfg['nesterov'])
dist = peer.ClassDistribution(C)
dist.current = torch.tensor(counts, dtype=torch.float64)
source = torch.tensor(source, dtype=torch.long).reshape(L + U, -1)
loss, contrast, blended = peer.tak_step(cfg, student, teacher, opt, dist, x, labels, rows if cfg['text'] else None, ${ITERATION}, ${EPOCH}, source)
assert blended and not contrast
torch.save(student.state_dict(), os.path.join(out, 'student.pth'))
torch.save(teacher.state_dict(), os.path.join(out, 'teacher.pth'))
print(json.dumps(loss))`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, peer, dir, JSON.stringify(cfg), JSON.stringify([...source]), JSON.stringify(COUNTS)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim()) as number;
}

/**
 * ‖ours − peer‖ against ‖peer − before‖ (the peer's update). The bound is 3 % of the update plus
 * 5e-6: float32 round-off is amplified by instance norm over the 2³ bottleneck of each cube — the
 * peer itself in float32 against float64 differs by ~1 % in the decoder and encoder weights — and
 * biases ahead of an instance norm have no gradient: their update is weight decay (~2e-6) plus the
 * round-off of a sum that cancels to zero (~2e-6 here).
 */
function updateMismatch(ours: ArrayLike<number>, peerAfter: ArrayLike<number>, before: ArrayLike<number>): { error: number; bound: number } {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < peerAfter.length; i++) {
    diff += (ours[i]! - peerAfter[i]!) ** 2;
    size += (peerAfter[i]! - before[i]!) ** 2;
  }
  return { error: Math.sqrt(diff), bound: 0.03 * Math.sqrt(size) + 5e-6 };
}

async function compare(text: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tak-step-'));
  const config: TrainConfig = {
    ...resolveConfig('cpu', undefined, {}),
    patch: P, cubes: N, nFilters: F, text, contrast: false, labeledBatch: L, unlabeledBatch: U, noiseStd: 0, blendFromIter: 0, seed: SEED,
  };
  const source = cubePermutation(new Rng(config.seed).fork(ITERATION), L + U, N ** 3);
  const peerLoss = runPeer(dir, config, source);

  const inputs = readTorchStateDict(join(dir, 'batch.pth'));
  const before = readTorchStateDict(join(dir, 'before.pth'));
  const net = () => {
    const m = new TakNet({ classes: C, nFilters: F, patch: P, cubes: N, text, textDim: D });
    loadWeights(m, join(dir, 'before.pth'));
    return m;
  };
  const student = net();
  const teacher = net();
  const optimizer = new Sgd(student.namedParameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay, nesterov: config.nesterov });
  const distribution = new ClassDistribution(C);
  distribution.restore({ pending: new Array(C).fill(0), current: COUNTS, pendingIterations: 0 });
  const textRows = text ? keep(fromArray(inputs.get('rows')!.values, [2 * C, D])) : null;
  const label = new Uint8Array((L + U) * P ** 3);
  label.set(inputs.get('labels')!.values);
  const batch = { index: 0, epoch: EPOCH, iteration: ITERATION, size: L + U, patch: P, labeledCount: L, image: inputs.get('x')!.values, label, caseIds: [] };
  const step = await takStep({ config, student, teacher, textRows, optimizer, distribution, classes: C }, batch, ITERATION, EPOCH);
  expect(step.blended && !step.contrastActive).toBe(true);
  expect(step.loss).toBeCloseTo(peerLoss, 4);

  for (const [side, model] of [['student', student], ['teacher', teacher]] as const) {
    const peerAfter = readTorchStateDict(join(dir, `${side}.pth`));
    const stateDict = model.stateDict();
    expect(stateDict.length).toBe(peerAfter.size);
    const mismatches: string[] = [];
    for (const [key, t] of stateDict) {
      const ours = await t.toArray();
      const { error, bound } = updateMismatch(ours, peerAfter.get(key)!.values, before.get(key)!.values);
      if (!(error <= bound)) mismatches.push(`${side} ${key}: ‖ours − peer‖ ${error.toExponential(2)} > ${bound.toExponential(2)}`);
    }
    expect(mismatches.join("\n")).toBe("");
  }
  textRows?.dispose();
}

describe('one training iteration against the PyTorch peer', () => {
  it.skipIf(!hasTorch)('text-driven head: the loss, every updated parameter and the EMA teacher match', () => compare(true), 600_000);
  it.skipIf(!hasTorch)('plain 1×1×1 head (--no-text): the same', () => compare(false), 600_000);
});
