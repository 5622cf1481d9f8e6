import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import pkg from 'onnx-proto';
import type { InferenceSession as Session, Tensor as OrtTensor } from 'onnxruntime-node';

/**
 * Peer implementations measured in the same run as tak-wgpu: onnxruntime-node (CPU EP and WebGPU
 * EP, single-node models built with onnx-proto) and PyTorch on the CPU through /usr/bin/python3
 * when Debian's python3-torch is installed. Each returns seconds per run (median), or null with
 * the reason when the peer is unavailable.
 */

const { onnx } = pkg;

export type Attr = { name: string; ints?: number[]; f?: number; i?: number };

export interface OrtNode {
  op: string;
  /** Graph input (timed) shapes; the rest of `initializers` are constants. */
  inputs: { name: string; shape: number[] }[];
  initializers: { name: string; shape: number[] }[];
  attributes: Attr[];
  outputShape: number[];
}

function valueInfo(name: string, shape: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
  });
}

function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** The serialized single-node model. */
export function onnxModel(node: OrtNode): Uint8Array {
  const attribute = node.attributes.map((a) =>
    a.ints
      ? onnx.AttributeProto.create({ name: a.name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints })
      : a.f !== undefined
        ? onnx.AttributeProto.create({ name: a.name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.f })
        : onnx.AttributeProto.create({ name: a.name, type: onnx.AttributeProto.AttributeType.INT, i: a.i ?? 0 }),
  );
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'tak-wgpu bench',
    graph: onnx.GraphProto.create({
      name: node.op,
      node: [onnx.NodeProto.create({ opType: node.op, input: [...node.inputs, ...node.initializers].map((t) => t.name), output: ['y'], attribute })],
      initializer: node.initializers.map((t, i) =>
        onnx.TensorProto.create({ name: t.name, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(randomData(t.shape.reduce((p, d) => p * d, 1), 7 + i)) }),
      ),
      input: node.inputs.map((t) => valueInfo(t.name, t.shape)),
      output: [valueInfo('y', node.outputShape)],
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The machines this runs on are shared: a run counts as "clean" when other processes used less
 * than 15% of the CPUs while it ran (from /proc/stat, minus this process's own CPU time). Every
 * timer here reports the fastest clean run, or the fastest run when none was clean, and the share
 * of the machine others used during it, so figures taken under contention say so.
 */
export interface Timed {
  seconds: number;
  /** Fraction of all CPUs used by other processes during the reported run (NaN: unknown). */
  others: number;
}

function cpuTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: (total - f[3]! - (f[4] ?? 0)) * 10, total: total * 10 }; // ms at USER_HZ = 100
  } catch {
    return null;
  }
}

const CPUS = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length || 1;
  } catch {
    return 1;
  }
})();

export const CLEAN_SHARE = 0.15;

/** Runs `run` up to `tries` times (stopping after `want` clean runs) and reports as described above. */
export async function timeClean(run: () => Promise<void>, tries = 6, want = 2): Promise<Timed> {
  let best: Timed = { seconds: Infinity, others: NaN };
  let bestClean: Timed | null = null;
  let clean = 0;
  for (let i = 0; i < tries && clean < want; i++) {
    const t0 = cpuTicks();
    const c0 = process.cpuUsage();
    const start = performance.now();
    await run();
    const ms = performance.now() - start;
    const c1 = process.cpuUsage(c0);
    const t1 = cpuTicks();
    const others = t0 && t1 ? Math.max(0, (t1.busy - t0.busy - (c1.user + c1.system) / 1000) / (CPUS * ms)) : NaN;
    const timed = { seconds: ms / 1e3, others };
    if (timed.seconds < best.seconds) best = timed;
    if (others < CLEAN_SHARE) {
      clean++;
      if (!bestClean || timed.seconds < bestClean.seconds) bestClean = timed;
    }
  }
  return bestClean ?? best;
}

export type PeerResult = Timed | { error: string };

/**
 * Seconds per ORT run of `node` on `provider`. `runs` timed runs after one warm-up (the naive
 * WebGPU EP takes seconds per large 3-D convolution, so callers keep it small).
 */
export async function ortSeconds(node: OrtNode, provider: 'cpu' | 'webgpu', runs: number): Promise<PeerResult> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch (error) {
    return { error: `onnxruntime-node unavailable: ${(error as Error).message}` };
  }
  let session: Session;
  try {
    session = await ort.InferenceSession.create(onnxModel(node), { executionProviders: [provider], intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  } catch (error) {
    return { error: `ORT ${provider}: ${(error as Error).message.split('\n')[0]}` };
  }
  try {
    const feeds: Record<string, OrtTensor> = {};
    node.inputs.forEach((t, i) => (feeds[t.name] = new ort.Tensor('float32', randomData(t.shape.reduce((p, d) => p * d, 1), 100 + i), t.shape)));
    await session.run(feeds);
    return await timeClean(async () => {
      await session.run(feeds);
    }, Math.max(runs, 1) * 2, runs);
  } catch (error) {
    return { error: `ORT ${provider}: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    await session.release();
  }
}

export interface TorchCase {
  key: string;
  /** Python expression building the timed closure from `torch`, `F` and `grad` (torch.nn.grad). */
  setup: string;
}

/** Debian's python3 (python3-torch); TAK_WGPU_PYTHON picks another interpreter, e.g. a CUDA build's. */
export const PYTHON = process.env.TAK_WGPU_PYTHON ?? '/usr/bin/python3';

/** Whether PyTorch is importable through Debian's python3 (and why not). */
export function torchAvailable(): { ok: true; version: string; threads: number } | { ok: false; reason: string } {
  if (!existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} not found` };
  try {
    const out = execFileSync(PYTHON, ['-c', 'import torch; torch.set_num_threads(2); print(torch.__version__, torch.get_num_threads())'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [version, threads] = out.trim().split(/\s+/);
    return { ok: true, version: version!, threads: Number(threads) };
  } catch {
    return { ok: false, reason: 'python3 cannot import torch (apt-get install -y python3-torch to compare)' };
  }
}

/**
 * Runs every case in one python3 process: each `setup` evaluates to a zero-argument callable;
 * returns, by key, the fastest clean call (the same /proc/stat rule as timeClean; one warm-up,
 * up to 2·`runs` calls, stopping after `runs` clean ones).
 */
export function torchSeconds(cases: TorchCase[], runs: number, options: { hugePages?: boolean } = {}): Map<string, Timed> {
  const script = `
import json, os, sys, time, torch
import torch.nn.functional as F
import torch.nn.grad as grad
torch.set_num_threads(2)
torch.manual_seed(0)
cpus = os.cpu_count() or 1
def busy():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) * 10.0
cases = json.loads(sys.argv[1])
out = {}
for key, setup in cases:
    fn = eval(setup)
    fn()
    best, clean, n = None, None, 0
    for _ in range(2 * ${runs}):
        b0, c0, t0 = busy(), time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        others = max(0.0, (busy() - b0 - (time.process_time() - c0) * 1000) / (cpus * wall * 1000))
        if best is None or wall < best[0]: best = (wall, others)
        if others < ${CLEAN_SHARE}:
            n += 1
            if clean is None or wall < clean[0]: clean = (wall, others)
            if n >= ${runs}: break
    out[key] = clean or best
print(json.dumps(out))
`;
  // hugePages: glibc's malloc asks for transparent huge pages only with this tunable, read at
  // start-up (bench/torch_train.py re-executes itself with it); multi-GB working sets need it.
  const env = options.hugePages ? { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } : process.env;
  const result = execFileSync(PYTHON, ['-c', script, JSON.stringify(cases.map((c) => [c.key, c.setup]))], {
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Map(Object.entries(JSON.parse(result) as Record<string, [number, number]>).map(([k, [seconds, others]]) => [k, { seconds, others }]));
}
