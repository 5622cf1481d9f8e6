import { Rng } from '../util/random.js';
import { loadPreparedCase } from './cache.js';
import type { DatasetKind } from './classes.js';
import { copyCrop, drawCropOrigin } from './crop.js';
import type { CaseRef } from './datasets.js';
import type { PreparedCase, PreprocessOptions } from './preprocess.js';
import type { PlanOptions } from './sampler-plan.js';
import { checkPlanOptions, iterationsPerEpoch, planBatch } from './sampler-plan.js';

/** The cases a sampler draws from and how to prepare them (loaded through the on-disk cache). */
export interface SamplerCases {
  labeled: CaseRef[];
  unlabeled: CaseRef[];
  dataset: DatasetKind;
  preprocess: PreprocessOptions;
  cacheDir: string | null;
}

export interface SamplerSettings {
  /** crop edge P (TAK: 96) */
  patch: number;
  labeledPerBatch: number;
  unlabeledPerBatch: number;
  seed: number;
}

/**
 * One training batch: labelled crops first, then unlabelled ones (upstream's primary + secondary
 * halves). `image` is [B, 1, P, P, P] and `label` [B, P, P, P], x fastest; unlabelled crops'
 * labels are 0 — only the first `labeledCount` carry supervision.
 */
export interface Batch {
  index: number;
  epoch: number;
  iteration: number;
  size: number;
  patch: number;
  labeledCount: number;
  image: Float32Array;
  label: Uint8Array;
  caseIds: string[];
}

/** Loads the cases, then builds any batch k deterministically from (seed, k). */
export class BatchMaker {
  readonly plan: PlanOptions;
  readonly iterationsPerEpoch: number;

  private constructor(
    private readonly labeled: PreparedCase[],
    private readonly unlabeled: PreparedCase[],
    private readonly settings: SamplerSettings,
  ) {
    this.plan = {
      labeledCases: labeled.length,
      unlabeledCases: unlabeled.length,
      labeledPerBatch: settings.labeledPerBatch,
      unlabeledPerBatch: settings.unlabeledPerBatch,
      seed: settings.seed,
    };
    checkPlanOptions(this.plan);
    this.iterationsPerEpoch = iterationsPerEpoch(this.plan);
  }

  static load(cases: SamplerCases, settings: SamplerSettings): BatchMaker {
    const load = (ref: CaseRef): PreparedCase => loadPreparedCase(ref, cases.dataset, cases.preprocess, cases.cacheDir);
    return new BatchMaker(cases.labeled.map(load), cases.unlabeled.map(load), settings);
  }

  static fromPrepared(labeled: PreparedCase[], unlabeled: PreparedCase[], settings: SamplerSettings): BatchMaker {
    return new BatchMaker(labeled, unlabeled, settings);
  }

  make(index: number): Batch {
    const P = this.settings.patch;
    const plan = planBatch(this.plan, index);
    const members = [...plan.labeled.map((i) => this.labeled[i]!), ...plan.unlabeled.map((i) => this.unlabeled[i]!)];
    const voxels = P * P * P;
    const image = new Float32Array(members.length * voxels);
    const label = new Uint8Array(members.length * voxels);
    // Crop positions: one stream per batch, so batch k is the same however batches are produced.
    const rng = new Rng(this.settings.seed).fork(3).fork(index);
    members.forEach((c, b) => {
      const { origin, padding } = drawCropOrigin(c.dims, P, rng);
      const supervised = b < plan.labeled.length;
      copyCrop(c.image, supervised ? c.label : null, c.dims, padding, origin, P, image.subarray(b * voxels, (b + 1) * voxels), label.subarray(b * voxels, (b + 1) * voxels));
    });
    return {
      index,
      epoch: plan.epoch,
      iteration: plan.iteration,
      size: members.length,
      patch: P,
      labeledCount: plan.labeled.length,
      image,
      label,
      caseIds: members.map((c) => c.id),
    };
  }
}
