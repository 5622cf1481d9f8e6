import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine } from '../src/gpu/engine.js';
import { manualSeed } from '../src/tensor/create.js';
import { TakNet } from '../src/models/tak-net.js';
import { Sgd } from '../src/nn/optim.js';
import { PatchSampler } from '../src/data/sampler.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import '../src/train/presets.js';
import { ClassDistribution } from '../src/train/class-distribution.js';
import { takStep } from '../src/train/tak-step.js';
import { loadTextRows, networkConfig } from '../src/train/trainer.js';
import { prepareTrainingData } from '../src/train/training-data.js';
import { adapterName, timeAsync, type BenchRow, type BenchSuite } from './harness.js';
import { PYTHON, torchAvailable } from './peers.js';

/**
 * One full TAK training iteration (student on the labelled + unlabelled batch, cube mixing and
 * recovery, teacher pseudo-labels, cube-location loss, every loss term, backward, SGD, EMA) at
 * the `cpu` preset on the phantom, as `tak-wgpu train` runs it — with the contrastive and
 * blending terms switched on from the first iteration so every timed step does all the work.
 * `TAK_WGPU_BENCH_TRAIN=paper` times the paper's shapes instead (96³, 16 filters, 2 + 2 patches;
 * on lavapipe the 226 MB activations exceed the 128 MiB binding limit, so every op splits its
 * dispatches). With TAK_WGPU_PROFILE=1 the GPU time is split into phases by kernel; when Debian's
 * python3-torch is present, bench/torch_train.py runs the same network and batch for the ratio
 * (and, when profiling, splits one iteration of its own into the same phases with torch.profiler).
 * On a GPU adapter, TAK_WGPU_PYTHON=<a CUDA build's python3> TAK_WGPU_TORCH_DEVICE=cuda makes the
 * peer PyTorch on the GPU.
 */

/** Phases by kernel; `key` is the name bench/torch_train.py --phases reports PyTorch's share under. */
const PHASES: { key: string; label: string; kernels: RegExp }[] = [
  { key: 'backbone', label: 'backbone (conv, norm, cube mixing)', kernels: /^(conv3d|conv3d_pack|conv3d_unpack|norm|norm_coef|cube_mix|resize)\b/ },
  { key: 'head', label: 'head (dynamic head, linear, softmax)', kernels: /^(dynamic_head|matmul|softmax)\b/ },
  { key: 'losses', label: 'losses (CE, Dice, top-K, SupCon, sampling)', kernels: /^(cross_entropy|class_sums|class_grad|radix_select|supcon|voxel_gather|gather)\b/ },
  { key: 'optimizer', label: 'optimizer + EMA', kernels: /^optim\b/ },
  { key: 'glue', label: 'glue (elementwise, reductions, copies, fills, RNG)', kernels: /^(elementwise|reduce|strided_copy|fill|random|cast)\b/ },
];

function benchConfig(): TrainConfig {
  const config = resolveConfig(process.env.TAK_WGPU_BENCH_TRAIN ?? 'cpu', undefined, {});
  // TAK_WGPU_BENCH_BATCH=L+U: another batch (1+1 keeps the paper's 96³ × 16 filters under
  // lavapipe's 128 MiB binding limit, with no split dispatches).
  const batch = /^(\d+)\+(\d+)$/.exec(process.env.TAK_WGPU_BENCH_BATCH ?? '');
  const sizes = batch ? { labeledBatch: Number(batch[1]), unlabeledBatch: Number(batch[2]) } : {};
  // Blending from the first timed step; the steps run as the last epoch, so contrast is on too.
  return { ...config, ...sizes, blendFromIter: 0 };
}

function phaseShares(before: Map<string, { ns: number }>, after: Map<string, { ns: number }>, wallMs: number): Record<string, number> {
  const ms = new Map<string, number>();
  let gpu = 0;
  for (const [key, { ns }] of after) {
    const delta = (ns - (before.get(key)?.ns ?? 0)) / 1e6;
    if (delta <= 0) continue;
    gpu += delta;
    const phase = PHASES.find((p) => p.kernels.test(key))?.label ?? 'other GPU';
    ms.set(phase, (ms.get(phase) ?? 0) + delta);
  }
  const shares: Record<string, number> = {};
  for (const [phase, value] of ms) shares[`${phase} %`] = (100 * value) / wallMs;
  shares['host (JS, encoding, waits not on the GPU) %'] = Math.max(0, (100 * (wallMs - gpu)) / wallMs);
  return shares;
}

interface PeerResult {
  ms: number;
  version: string;
  busy: number;
  head: string;
  /** % of a profiled iteration per phase (backbone, head, losses, optimizer, glue, python). */
  phases: Record<string, number> | null;
}

/**
 * Upstream's dynamic head (grouped convolutions, every hidden activation kept for backward) is the
 * peer's default and faster than the chunked form (the head phase of a cpu-preset iteration: 1.12 s
 * against 4.96 s, bench/RESULTS.md); it keeps ~5 [K·8, P³] tensors
 * per image and head call (3.4 GB at the cpu preset, ~23 GB for the paper's 2 + 2 × 96³, more than
 * this machine has beside tak-wgpu's own buffers), so large batches use the chunked form.
 */
const GROUPED_HEAD_BYTES = 6e9;
/**
 * TAK_WGPU_TORCH_DEVICE=cuda runs the peer on the GPU (PyTorch >= 2.0 through TAK_WGPU_PYTHON),
 * the peer for tak-wgpu on a GPU adapter; the grouped head then has the GPU's memory to itself.
 */
const TORCH_DEVICE = process.env.TAK_WGPU_TORCH_DEVICE === 'cuda' ? 'cuda' : 'cpu';
const GPU_GROUPED_HEAD_BYTES = 40e9;

function torchPeer(config: TrainConfig, classes: number, textDim: number, iters: number, phases: boolean): PeerResult | { reason: string } {
  const torch = torchAvailable();
  if (!torch.ok) return { reason: torch.reason };
  const script = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench', 'torch_train.py');
  const headCalls = 2 * (config.labeledBatch + config.unlabeledBatch) + config.labeledBatch;
  const budget = TORCH_DEVICE === 'cuda' ? GPU_GROUPED_HEAD_BYTES : GROUPED_HEAD_BYTES;
  const head = 5 * classes * 8 * config.patch ** 3 * 4 * headCalls <= budget ? 'grouped' : 'chunked';
  const args = [
    script, '--patch', String(config.patch), '--cubes', String(config.cubes), '--filters', String(config.nFilters),
    '--classes', String(classes), '--labeled', String(config.labeledBatch), '--unlabeled', String(config.unlabeledBatch),
    '--text-dim', String(textDim), '--contrast-samples', String(config.contrastSamples), '--iters', String(iters), '--warmup', '1', '--threads', '2',
    '--head', head, '--device', TORCH_DEVICE, ...(phases && TORCH_DEVICE === 'cpu' ? ['--phases'] : []), ...(config.text ? [] : ['--no-text']), ...(config.contrast ? [] : ['--no-contrast']),
  ];
  try {
    const out = execFileSync(PYTHON, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const row = JSON.parse(out.trim().split('\n').pop()!) as { ms_per_iter: number; torch: string; others_share: number; phases: Record<string, number> | null; device: string };
    return { ms: row.ms_per_iter, version: `${row.torch} ${row.device}`, busy: row.others_share, head, phases: row.phases };
  } catch (error) {
    return { reason: `bench/torch_train.py failed: ${String((error as { stderr?: string }).stderr ?? error).slice(0, 300)}` };
  }
}

/** "backbone 3.1× (4.6 s / 1.5 s), …": each phase's time per iteration, from the two profiled shares. */
function phaseRatios(shares: Record<string, number>, ms: number, torchShares: Record<string, number>, torchMs: number): string {
  return PHASES.map(({ key, label }) => {
    const ours = ((shares[`${label} %`] ?? 0) / 100) * ms;
    const theirs = ((torchShares[key] ?? 0) / 100) * torchMs;
    return `${key} ${(ours / theirs).toFixed(2)}× (${(ours / 1e3).toFixed(2)} s / ${(theirs / 1e3).toFixed(2)} s)`;
  }).join(', ');
}

async function timeOnce(step: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await step();
  return (performance.now() - t) / 1e3;
}

async function trainIteration(): Promise<BenchRow[]> {
  const config = benchConfig();
  const data = prepareTrainingData(config, (line) => process.stderr.write(`${line}\n`));
  const text = loadTextRows(config, data.dataset);
  // The PyTorch peer on the same shapes first, before tak-wgpu allocates anything or the sampler
  // starts: at paper shapes the two do not fit in 24 GiB together (16 GB of tak-wgpu buffers beside
  // the peer's 7+ GB; the OOM killer ended such a run). One timed step at paper shapes.
  const peer = torchPeer(config, data.classes, text.dim, config.preset === 'cpu' ? 3 : 1, engine().profiling);
  manualSeed(config.seed);
  const student = new TakNet(networkConfig(config, data, text.dim));
  const teacher = new TakNet(networkConfig(config, data, text.dim));
  const optimizer = new Sgd(student.namedParameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay, nesterov: config.nesterov });
  const ctx = { config, student, teacher, textRows: text.rows, optimizer, distribution: new ClassDistribution(data.classes), classes: data.classes };
  const sampler = await PatchSampler.open(
    { labeled: data.labeled, unlabeled: data.unlabeled, dataset: data.dataset, preprocess: data.preprocess, cacheDir: data.cacheDir },
    { patch: config.patch, labeledPerBatch: config.labeledBatch, unlabeledPerBatch: config.unlabeledBatch, seed: config.seed },
  );
  const shape = `${config.labeledBatch}+${config.unlabeledBatch} × ${config.patch}³, ${config.nFilters} filters, ${data.classes} classes`;
  const name = `TAK training iteration, ${config.preset} preset (${shape})`;
  let iteration = 0;
  const step = async () => {
    await takStep(ctx, await sampler.next(), iteration, config.maxEpoch);
    iteration++;
  };
  try {
    const e = engine();
    await step(); // compiles every pipeline outside the measured window
    e.resetPeakBytes();
    const before = await e.profileTotals();
    const [d0, i0] = [e.stats().dispatches, iteration];
    const started = performance.now();
    // Paper shapes take minutes per step on lavapipe: one timed step there (benchmark.js would
    // add two warm-ups and a calibration cycle).
    const seconds = config.preset === 'cpu' ? await timeAsync(name, step, { maxTime: 1, minSamples: 3 }) : await timeOnce(step);
    const wallMs = performance.now() - started; // all steps timeAsync ran, warm-ups included
    const after = await e.profileTotals();
    const peakGpuMB = e.stats().peakBytes / 2 ** 20;
    const row: BenchRow = {
      name, adapter: adapterName(), metric: 'time per iteration', value: seconds * 1e3, unit: 'ms',
      dispatchesPerIter: Math.round((e.stats().dispatches - d0) / (iteration - i0)), peakGpuMB,
    };
    const shares = before && after ? phaseShares(before, after, wallMs) : null;
    if (shares) Object.assign(row, shares, { profiled: 'yes (timestamps add per-dispatch passes)' });
    else row.phases = 'run with TAK_WGPU_PROFILE=1 for the phase split';
    if ('ms' in peer) {
      Object.assign(row, { torchMs: peer.ms, torch: peer.version, torchHead: peer.head, torchBusy: peer.busy, 'tak-wgpu/torch time': (seconds * 1e3) / peer.ms });
      if (shares && peer.phases) row['tak-wgpu/torch per phase'] = phaseRatios(shares, seconds * 1e3, peer.phases, peer.ms);
    } else row.torch = peer.reason;
    return [row];
  } catch (error) {
    const message = (error as Error).message;
    if (!/maxStorageBufferBindingSize/.test(message)) throw error;
    return [{ name, adapter: adapterName(), metric: 'time per iteration', value: Number.NaN, unit: 'ms', refused: message.slice(0, 240) }];
  } finally {
    await sampler.close();
  }
}

export const trainSuites: BenchSuite[] = [{ name: 'train', run: trainIteration }];
