import { fileURLToPath } from 'node:url';
import * as T from '../src/index.js';
import { adapterName, timeGpu, type BenchRow, type BenchSuite } from './harness.js';
import { torchAvailable, torchSeconds, type Timed } from './peers.js';

/**
 * TAK's dynamic segmentation head (method-spec §6) at training size: B = 2 images, K = 16 classes,
 * 8 feature channels, 96³, forward and forward + backward (∂h and ∂θ), next to the issue's
 * yardstick — one 32→32 3×3×3 convolution at 48³, batch 2, forward — on the same adapter; with
 * python3-torch, PyTorch CPU in the same run in both of bench/torch_train.py's forms: upstream's
 * grouped 1×1×1 convolutions and the chunked custom autograd function.
 */

const GB = 1e9;

/** The yardstick row: conv3d 32→32, 3×3×3, pad 1, 48³, batch 2, forward. */
export async function convReference(): Promise<BenchRow & { ms: number }> {
  const x = T.keep(T.randn([2, 32, 48, 48, 48]));
  const w = T.keep(T.randn([32, 32, 3, 3, 3], 0, 0.05));
  const seconds = await timeGpu('conv3d 32->32 48^3 b2', () => T.conv3d(x, w, null, { padding: 1 }).dispose());
  x.dispose();
  w.dispose();
  const flops = 2 * 2 * 48 ** 3 * 32 * 32 * 27;
  return { name: 'conv3d 32→32 3×3×3, 48³, batch 2 (yardstick)', adapter: adapterName(), metric: 'throughput', value: flops / seconds / GB, unit: 'GFLOP/s', ms: seconds * 1e3 };
}

async function dynamicHead(): Promise<BenchRow[]> {
  const adapter = adapterName();
  const conv = await convReference();
  const [b, k, s] = [2, 16, 96 ** 3];
  const h = T.keep(T.randn([b, 8, 96, 96, 96], 0, 0.5));
  const theta = T.keep(T.randn([b, k, 153], 0, 0.3));
  const seed = T.keep(T.randn([b, k, 96, 96, 96]));
  const leafH = T.keep(T.Tensor.view(h, h.shape));
  const leafTheta = T.keep(T.Tensor.view(theta, theta.shape));
  leafH.requiresGrad = true;
  leafTheta.requiresGrad = true;
  // MACs per voxel and class: forward 136; ∂h recomputes (128) and back-propagates (8 + 64 + 64);
  // ∂θ recomputes (128), back-propagates to pre1 (8 + 64) and forms the outer products (136).
  const macs = b * k * s * 136;
  const trainingMacs = b * k * s * (136 + 264 + 336);
  const forwardBytes = 4 * (b * 8 * s + b * k * s);
  // ∂h reads h and g_z and writes ∂h; ∂θ reads h and g_z again.
  const backwardBytes = 4 * (b * 8 * s + b * k * s + b * 8 * s) + 4 * (b * 8 * s + b * k * s);
  const forward = await timeGpu('dynamic head forward', () => T.dynamicHead(h, theta).dispose());
  const both = await timeGpu('dynamic head forward+backward', () => {
    const z = T.dynamicHead(leafH, leafTheta);
    T.backward(z, seed);
    z.dispose();
    for (const leaf of [leafH, leafTheta]) {
      leaf.grad?.dispose();
      leaf.grad = null;
    }
  });
  for (const t of [h, theta, seed, leafH, leafTheta]) t.dispose();
  const peers = torchHead(b, k, 96);
  const row = (name: string, pass: 'forward' | 'train', seconds: number, bytes: number, macCount: number): BenchRow => {
    const grouped = peers.get(`grouped ${pass}`)?.seconds;
    const chunked = peers.get(`chunked ${pass}`)?.seconds;
    return {
      name, adapter, metric: 'bandwidth', value: bytes / seconds / GB, unit: 'GB/s',
      ms: seconds * 1e3, GMACps: macCount / seconds / GB, vsConv: seconds * 1e3 / conv.ms,
      torchGroupedMs: grouped ? grouped * 1e3 : '-', torchChunkedMs: chunked ? chunked * 1e3 : '-',
      'tak-wgpu/torch grouped time': grouped ? seconds / grouped : '-',
    };
  };
  return [
    conv,
    row('dynamic head forward, B 2, K 16, 8 ch, 96³', 'forward', forward, forwardBytes, macs),
    row('dynamic head forward+backward (∂h, ∂θ)', 'train', both, forwardBytes + backwardBytes, trainingMacs),
  ];
}

/** PyTorch CPU on the same head, both forms of bench/torch_train.py (head_case). */
function torchHead(batch: number, classes: number, size: number): Map<string, Timed> {
  const torch = torchAvailable();
  if (!torch.ok) {
    process.stderr.write(`PyTorch columns skipped: ${torch.reason}\n`);
    return new Map();
  }
  const dir = JSON.stringify(fileURLToPath(new URL('../../bench', import.meta.url)));
  const peer = `(__import__('sys').path.insert(0, ${dir}) or __import__('torch_train'))`;
  const cases = ['grouped', 'chunked'].flatMap((form) =>
    (['forward', 'train'] as const).map((pass) => ({
      key: `${form} ${pass}`,
      setup: `${peer}.head_case('${form}', ${batch}, ${classes}, ${size}, ${pass === 'train' ? 'True' : 'False'})`,
    })),
  );
  // Huge pages: without them (and head_case's heap setting) the grouped forward took 20.8 s here,
  // against 0.45 s with them, page-faulting its 0.5 GB activations afresh on every call.
  return torchSeconds(cases, 2, { hugePages: true });
}

export const headSuites: BenchSuite[] = [{ name: 'heads', run: dynamicHead }];
