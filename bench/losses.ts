import { engine } from '../src/gpu/engine.js';
import * as T from '../src/index.js';
import { Rng } from '../src/util/random.js';
import { adapterName, timeGpu, type BenchRow, type BenchSuite } from './harness.js';
import { convReference } from './heads.js';

/**
 * The per-iteration losses at training size, next to the conv yardstick (bench/heads.ts):
 * softmax, voxel entropy, GA cross-entropy and GA Dice over [4, 16, 96³] (226 MB: above lavapipe's
 * 128 MiB binding limit, so the ops split the batch into per-image bindings internally), each
 * forward and backward; and SupCon over the three stages of method-spec §7 (40/20/10 samples ×
 * 16 classes × 12 maps + 32 text rows), forward + backward.
 */

const GB = 1e9;
const [B, C, SIDE] = [4, 16, 96];
const S = SIDE ** 3;

/** [n, ...] tensors above the binding limit cannot come from randn: fill them image by image. */
function randnLarge(shape: number[]): T.Tensor {
  const out = T.Tensor.empty(shape);
  const per = out.size / shape[0]!;
  for (let i = 0; i < shape[0]!; i++) {
    const part = T.randn([per]);
    engine().copy(part.buffer, 0, out.buffer, i * per * 4, per * 4);
    part.dispose();
  }
  return out;
}

async function segmentationLosses(): Promise<BenchRow[]> {
  const adapter = adapterName();
  const conv = await convReference();
  const logits = T.keep(randnLarge([B, C, SIDE, SIDE, SIDE]));
  const rng = new Rng(3);
  const labels = T.keep(T.fromArray(Int32Array.from({ length: B * S }, () => rng.int(C)), [B, SIDE, SIDE, SIDE]));
  const probs = T.keep(T.softmax(logits));
  // Separate leaves per loss: summing two [4, 16, 96³] gradients would need the elementwise add
  // over 226 MB, which does not split across bindings.
  const leaf = () => {
    const t = T.keep(T.Tensor.view(logits, logits.shape));
    t.requiresGrad = true;
    return t;
  };
  const [ceLeaf, softmaxLeaf, diceLeaf] = [leaf(), leaf(), T.keep(T.Tensor.view(probs, probs.shape))];
  diceLeaf.requiresGrad = true;
  const backwardOf = (loss: () => T.Tensor, leaves: T.Tensor[], seed?: T.Tensor) => () => {
    const l = loss();
    T.backward(l, seed);
    l.dispose();
    for (const t of leaves) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
  const big = B * C * S * 4;
  const map = B * S * 4;
  const seed = T.keep(randnLarge([B, C, SIDE, SIDE, SIDE]));
  const cases: [string, () => void, number][] = [
    ['softmax over channels', () => T.softmax(logits).dispose(), 2 * big],
    ['voxel entropy from logits', () => T.voxelEntropy(logits).dispose(), big + map],
    ['GA cross-entropy forward (CE map, radix top-10 %, class sums)', () => T.gaCrossEntropy(logits, labels).dispose(), big + 8 * map],
    ['GA Dice forward (class sums)', () => T.gaDiceLoss(probs, labels).dispose(), big + map],
    ['softmax forward+backward', backwardOf(() => T.softmax(softmaxLeaf), [softmaxLeaf], seed), 6 * big],
    ['GA cross-entropy forward+backward', backwardOf(() => T.gaCrossEntropy(ceLeaf, labels), [ceLeaf]), 3 * big + 12 * map],
    ['GA Dice forward+backward', backwardOf(() => T.gaDiceLoss(diceLeaf, labels), [diceLeaf]), 3 * big + 2 * map],
  ];
  const rows: BenchRow[] = [conv];
  let total = 0;
  for (const [name, run, bytes] of cases) {
    const seconds = await timeGpu(name, run);
    if (name.includes('+backward') || name.startsWith('voxel entropy')) total += seconds;
    rows.push({ name: `${name} [4, 16, 96³]`, adapter, metric: 'bandwidth', value: bytes / seconds / GB, unit: 'GB/s', ms: seconds * 1e3, vsConv: (seconds * 1e3) / conv.ms });
  }
  rows.push({ name: 'softmax + entropy + GA-CE + GA-Dice, forward+backward, [4, 16, 96³]', adapter, metric: 'time', value: total * 1e3, unit: 'ms', vsConv: (total * 1e3) / conv.ms });
  for (const t of [logits, labels, probs, ceLeaf, softmaxLeaf, diceLeaf, seed]) t.dispose();
  return rows;
}

async function contrastive(): Promise<BenchRow[]> {
  const adapter = adapterName();
  const conv = await convReference();
  const rows: BenchRow[] = [conv];
  let total = 0;
  for (const [perClass, d] of [[40, 64], [20, 128], [10, 256]] as const) {
    const sampled = perClass * 16 * 12;
    const m = sampled + 32;
    // Sampled anchors in class blocks, then the 16 shape and 16 location text rows.
    const labels = Int32Array.from({ length: m }, (_, i) => (i < sampled ? Math.floor(i / perClass) % 16 : (i - sampled) % 16));
    const anchors = T.keep(T.randn([m, d]));
    anchors.requiresGrad = true;
    const seconds = await timeGpu(`SupCon M ${m}, D ${d}`, () => {
      const loss = T.supConLoss(anchors, labels);
      T.backward(loss);
      loss.dispose();
      anchors.grad?.dispose();
      anchors.grad = null;
    });
    total += seconds;
    // Two Gram-sized GEMMs: the similarities (kept for the backward) and ∂A = coef·A.
    const flops = 2 * 2 * m * m * d;
    rows.push({ name: `SupCon forward+backward, M ${m} (${perClass}×16×12 + 32), D ${d}`, adapter, metric: 'throughput', value: flops / seconds / GB, unit: 'GFLOP/s', ms: seconds * 1e3, vsConv: (seconds * 1e3) / conv.ms });
    anchors.dispose();
  }
  rows.push({ name: 'SupCon, 3 stages, forward+backward', adapter, metric: 'time', value: total * 1e3, unit: 'ms', vsConv: (total * 1e3) / conv.ms });
  return rows;
}

export const lossSuites: BenchSuite[] = [
  { name: 'losses', run: segmentationLosses },
  { name: 'losses-supcon', run: contrastive },
];
