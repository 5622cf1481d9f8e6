import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export type PeerResult = { seconds: number } | { error: string };

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
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      await session.run(feeds);
      times.push((performance.now() - start) / 1e3);
    }
    return { seconds: median(times) };
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

const PYTHON = '/usr/bin/python3';

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
 * returns the median seconds per call (one warm-up, `runs` timed calls) by key.
 */
export function torchSeconds(cases: TorchCase[], runs: number): Map<string, number> {
  const script = `
import json, sys, time, torch
import torch.nn.functional as F
import torch.nn.grad as grad
torch.set_num_threads(2)
torch.manual_seed(0)
cases = json.loads(sys.argv[1])
out = {}
for key, setup in cases:
    fn = eval(setup)
    fn()
    times = []
    for _ in range(${runs}):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    out[key] = times[len(times) // 2]
print(json.dumps(out))
`;
  const result = execFileSync(PYTHON, ['-c', script, JSON.stringify(cases.map((c) => [c.key, c.setup]))], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Map(Object.entries(JSON.parse(result) as Record<string, number>));
}
