import { describe, expect, it } from 'vitest';
import type { SamplerCases } from '../../src/data/batch-maker.js';
import { BatchMaker } from '../../src/data/batch-maker.js';
import { copyCrop, cropPadding, drawCropOrigin } from '../../src/data/crop.js';
import { indexDataset } from '../../src/data/datasets.js';
import type { PreparedCase } from '../../src/data/preprocess.js';
import { DEFAULT_PREPROCESS } from '../../src/data/preprocess.js';
import { PatchSampler } from '../../src/data/sampler.js';
import { iterationsPerEpoch, planBatch } from '../../src/data/sampler-plan.js';
import type { Vec3 } from '../../src/data/volume.js';
import { identityAffine } from '../../src/data/volume.js';
import { Rng } from '../../src/util/random.js';
import { smallPhantom } from './phantom-fixture.js';

describe('two-stream batch plan (TAK/GA AMOS_fast + TwoStreamBatchSampler)', () => {
  const o = { labeledCases: 3, unlabeledCases: 9, labeledPerBatch: 2, unlabeledPerBatch: 2, seed: 4 };

  it('runs U iterations per epoch, oversamples labelled cases, shows each unlabelled case twice', () => {
    expect(iterationsPerEpoch(o)).toBe(9);
    for (const epoch of [0, 1, 5]) {
      const plans = Array.from({ length: 9 }, (_, i) => planBatch(o, epoch * 9 + i));
      expect(plans.every((p) => p.epoch === epoch)).toBe(true);
      const labeled = plans.flatMap((p) => p.labeled);
      const unlabeled = plans.flatMap((p) => p.unlabeled);
      // 2U = 18 labelled slots over 3 cases: each case 6 times; 18 unlabelled slots over 9 cases: 2 each
      expect([0, 1, 2].map((c) => labeled.filter((v) => v === c).length)).toEqual([6, 6, 6]);
      expect(Array.from({ length: 9 }, (_, c) => unlabeled.filter((v) => v === c).length)).toEqual(new Array(9).fill(2));
    }
  });

  it('is a pure function of (seed, batch) and changes between epochs', () => {
    expect(planBatch(o, 23)).toEqual(planBatch(o, 23));
    const epoch0 = Array.from({ length: 9 }, (_, i) => planBatch(o, i).unlabeled);
    const epoch1 = Array.from({ length: 9 }, (_, i) => planBatch(o, 9 + i).unlabeled);
    expect(epoch1).not.toEqual(epoch0);
    expect(planBatch({ ...o, seed: 5 }, 3)).not.toEqual(planBatch(o, 3));
  });
});

describe('random crop with upstream padding', () => {
  it('pads every axis by max((P − s)//2 + 3, 0) only when some axis is ≤ P', () => {
    expect(cropPadding([160, 160, 80], 96)).toEqual([0, 0, 11]);
    expect(cropPadding([100, 97, 150], 96)).toEqual([0, 0, 0]);
    expect(cropPadding([95, 100, 150], 96)).toEqual([3, 1, 0]); // (96−100)//2 + 3 = 1 (floor division)
  });

  it('copies exactly the crop of the explicitly padded volume', () => {
    const rng = new Rng(2);
    const dims: Vec3 = [13, 9, 20];
    const P = 10;
    const image = new Float32Array(13 * 9 * 20).map(() => rng.uniform() + 1);
    const label = new Uint8Array(image.length).map(() => 1 + rng.int(5));
    for (let trial = 0; trial < 20; trial++) {
      const { origin, padding } = drawCropOrigin(dims, P, rng);
      const padded = dims.map((s, a) => s + 2 * padding[a]!);
      origin.forEach((o, a) => expect(o).toBeLessThan(padded[a]! - P)); // randint's upper bound is exclusive
      const outImage = new Float32Array(P ** 3);
      const outLabel = new Uint8Array(P ** 3);
      copyCrop(image, label, dims, padding, origin, P, outImage, outLabel);
      let v = 0;
      for (let z = 0; z < P; z++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++, v++) {
        const [ix, iy, iz] = [origin[0] + x - padding[0], origin[1] + y - padding[1], origin[2] + z - padding[2]];
        const inside = ix >= 0 && iy >= 0 && iz >= 0 && ix < 13 && iy < 9 && iz < 20;
        const i = ix + 13 * (iy + 9 * iz);
        expect(outImage[v]).toBe(inside ? image[i] : 0);
        expect(outLabel[v]).toBe(inside ? label[i] : 0);
      }
    }
  });
});

describe('batches', () => {
  const fake = (id: string, value: number, dims: Vec3 = [12, 11, 10]): PreparedCase => ({
    id,
    modality: 'CT',
    dims,
    affine: identityAffine(),
    image: new Float32Array(dims[0] * dims[1] * dims[2]).fill(value),
    label: new Uint8Array(dims[0] * dims[1] * dims[2]).fill(value),
    source: { dims, affine: identityAffine(), toCanonical: { from: [0, 1, 2], flip: [false, false, false] } },
  });

  it('puts labelled crops first and leaves unlabelled labels at 0', () => {
    const maker = BatchMaker.fromPrepared([fake('a', 1), fake('b', 2)], [fake('u', 7), fake('v', 8), fake('w', 9)], { patch: 8, labeledPerBatch: 2, unlabeledPerBatch: 2, seed: 1 });
    const batch = maker.make(4);
    expect([batch.size, batch.labeledCount, batch.image.length, batch.label.length]).toEqual([4, 2, 4 * 512, 4 * 512]);
    batch.caseIds.forEach((id, b) => {
      const labels = new Set(batch.label.subarray(b * 512, (b + 1) * 512));
      const values = new Set(batch.image.subarray(b * 512, (b + 1) * 512));
      expect(values).toEqual(new Set([{ a: 1, b: 2, u: 7, v: 8, w: 9 }[id]!]));
      expect(labels).toEqual(new Set([b < 2 ? { a: 1, b: 2 }[id]! : 0]));
    });
  });

  it('produces the same batches in a worker thread as in process, and resumes from any batch', async () => {
    const index = indexDataset(smallPhantom('amos', 3));
    const cases: SamplerCases = { labeled: [index.cases[0]!], unlabeled: index.cases.slice(1), dataset: 'amos', preprocess: DEFAULT_PREPROCESS, cacheDir: null };
    const settings = { patch: 24, labeledPerBatch: 2, unlabeledPerBatch: 2, seed: 9 };
    const local = await PatchSampler.open(cases, { ...settings, worker: false });
    const expected = [];
    for (let k = 0; k < 5; k++) expected.push(await local.next());
    const threaded = await PatchSampler.open(cases, { ...settings, prefetch: 3 });
    expect(threaded.iterationsPerEpoch).toBe(2);
    let k = 0;
    for await (const batch of threaded) {
      expect(batch.index).toBe(k);
      expect(batch.caseIds).toEqual(expected[k]!.caseIds);
      expect(Buffer.from(batch.image.buffer).equals(Buffer.from(expected[k]!.image.buffer))).toBe(true);
      expect(Buffer.from(batch.label.buffer).equals(Buffer.from(expected[k]!.label.buffer))).toBe(true);
      if (++k === 5) break; // closes the worker
    }
    const resumed = await PatchSampler.open(cases, { ...settings, worker: false, startBatch: 3 });
    expect(Buffer.from((await resumed.next()).image.buffer).equals(Buffer.from(expected[3]!.image.buffer))).toBe(true);
    // labelled crops carry organ labels
    expect(expected.some((b) => b.label.subarray(0, 24 ** 3).some((v) => v > 0))).toBe(true);
  });

  it('reports a case that cannot be loaded as an error naming it', async () => {
    const index = indexDataset(smallPhantom('amos', 3));
    const broken = { ...index.cases[0]!, image: '/nonexistent/amos_0001.nii.gz' };
    const cases: SamplerCases = { labeled: [broken], unlabeled: [], dataset: 'amos', preprocess: DEFAULT_PREPROCESS, cacheDir: null };
    await expect(PatchSampler.open(cases, { patch: 16, labeledPerBatch: 1, unlabeledPerBatch: 0, seed: 1 })).rejects.toThrow(/case amos_0001: cannot read \/nonexistent\/amos_0001\.nii\.gz/);
  });
});
