import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadPreparedCase } from '../src/data/cache.js';
import { indexDataset } from '../src/data/datasets.js';
import { decodeNifti } from '../src/data/nifti-read.js';
import { writePhantomDataset } from '../src/data/phantom/write-dataset.js';
import type { PreprocessOptions } from '../src/data/preprocess.js';
import { prepareCase, readCaseBytes } from '../src/data/preprocess.js';
import { PatchSampler } from '../src/data/sampler.js';
import type { Vec3 } from '../src/data/volume.js';
import { caseMetrics } from '../src/eval/metrics.js';
import { slidingWindowLabels } from '../src/eval/sliding-window.js';

/**
 * Data-layer throughput on this machine's CPU: NIfTI decode and preprocessing, the cache, the
 * patch sampler (in process and with its worker thread), metrics per case and the host-side
 * cost of sliding-window inference. Works on a phantom written to a temporary folder.
 * `runDataBench()` returns the rows; running this file prints them as a table.
 */
export interface DataBenchRow {
  name: string;
  metric: string;
  value: number;
  unit: string;
}

const DIMS: Vec3 = [160, 160, 80];
const CASES = 4;

async function median(runs: number, step: () => Promise<void> | void): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

export async function runDataBench(): Promise<DataBenchRow[]> {
  const rows: DataBenchRow[] = [];
  const root = mkdtempSync(join(tmpdir(), 'tak-bench-data-'));
  try {
    const out = join(root, 'phantom');
    const synthMs = await median(1, () => void writePhantomDataset({ out, cases: CASES, validationCases: 0, seed: 1, dims: DIMS, layout: 'amos', overwrite: false }));
    rows.push({ name: `phantom synth ${DIMS.join('×')}`, metric: 'time per case', value: synthMs / CASES / 1000, unit: 's' });

    const index = indexDataset(out);
    const refs = index.cases;
    const voxelMb = (DIMS[0] * DIMS[1] * DIMS[2] * 2) / 1e6; // int16 images
    const gzMb = statSync(refs[0]!.image).size / 1e6;
    const bytes = refs.map(readCaseBytes);
    const decodeMs = await median(3, () => bytes.forEach((b, i) => decodeNifti(b.image, refs[i]!.image)));
    rows.push({ name: 'NIfTI decode (gunzip + int16)', metric: 'throughput', value: (CASES * voxelMb) / (decodeMs / 1000), unit: `MB/s (${gzMb.toFixed(1)} MB .nii.gz per case)` });
    const options: PreprocessOptions = { window: 'tak', reorient: true, resample: { shape: [128, 128, 64] } };
    const prepMs = await median(3, () => refs.forEach((ref, i) => prepareCase(ref, bytes[i]!, 'amos', options)));
    rows.push({ name: 'decode + validate + reorient + resample + window', metric: 'throughput', value: (CASES * voxelMb) / (prepMs / 1000), unit: 'MB/s (image+label)' });

    const cache = join(root, 'cache');
    refs.forEach((ref) => loadPreparedCase(ref, 'amos', options, cache));
    const hitMs = await median(3, () => refs.forEach((ref) => loadPreparedCase(ref, 'amos', options, cache)));
    rows.push({ name: 'preprocessed-case cache hit (hash + read)', metric: 'time per case', value: hitMs / CASES, unit: 'ms' });

    const cases = { labeled: refs.slice(0, 1), unlabeled: refs.slice(1), dataset: 'amos' as const, preprocess: options, cacheDir: cache };
    const settings = { patch: 96, labeledPerBatch: 2, unlabeledPerBatch: 2, seed: 1 };
    for (const worker of [false, true]) {
      const sampler = await PatchSampler.open(cases, { ...settings, worker, prefetch: 4 });
      await sampler.next();
      const n = 20;
      const ms = await median(1, async () => {
        for (let k = 0; k < n; k++) await sampler.next();
      });
      await sampler.close();
      rows.push({ name: `sampler 2+2 × 96³ (${worker ? 'worker thread' : 'in process'})`, metric: 'rate', value: n / (ms / 1000), unit: 'batches/s' });
    }

    const a = prepareCase(refs[0]!, bytes[0]!, 'amos', { window: 'none', reorient: true, resample: null });
    const b = prepareCase(refs[1]!, bytes[1]!, 'amos', { window: 'none', reorient: true, resample: null });
    const metricMs = await median(3, () => void caseMetrics(b.label!, a.label!, a.dims, [2.375, 2.375, 5], 16));
    rows.push({ name: `metrics, 15 organs, ${DIMS.join('×')} (two different cases)`, metric: 'time per case', value: metricMs, unit: 'ms' });

    // Host-side work of sliding-window inference (window extraction, accumulation, argmax) with a
    // model that costs nothing: the floor under the GPU's time.
    const P = 96;
    const constant = new Float32Array(4 * 16 * P ** 3).fill(1 / 16);
    const swMs = await median(1, () => slidingWindowLabels(a.image, a.dims, 16, async (_w, n) => constant.subarray(0, n * 16 * P ** 3), { patch: P, strides: [32, 32, 16], batch: 4, gaussian: false }).then(() => {}));
    rows.push({ name: `sliding window host work, 96³ windows, strides 32/32/16, ${DIMS.join('×')}`, metric: 'throughput', value: (DIMS[0] * DIMS[1] * DIMS[2]) / (swMs / 1000) / 1e6, unit: 'Mvoxel/s' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

function printTable(rows: DataBenchRow[]): void {
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${r.metric.padEnd(14)}${(r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2)).padStart(9)} ${r.unit}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runDataBench().then(printTable, (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
