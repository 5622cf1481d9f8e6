import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetKind, OrganClass } from '../data/classes.js';
import { classesOf } from '../data/classes.js';
import { niftiToLabels, readNifti } from '../data/nifti-read.js';
import { applyAxisMap, canonicalAxisMap } from '../data/orientation.js';
import { resampleToShape } from '../data/resample.js';
import { checkLabelRange, checkSameGrid } from '../data/validate.js';
import type { Vec3 } from '../data/volume.js';
import { spacingOf } from '../data/volume.js';
import { TakError, show } from '../util/errors.js';
import type { ClassMetrics } from './metrics.js';
import { caseMetrics } from './metrics.js';

/**
 * `tak-wgpu eval`: metrics of a folder of predicted label maps against a folder of ground truth,
 * matched by file name. Per case and class, means per class over cases, then the paper's groups
 * (method-spec §1): "all" = mean over organs, "large"/"small" = mean over each group's organs —
 * upstream reports the mean over cases per class, then over classes.
 */
export interface EvaluateOptions {
  pred: string;
  gt: string;
  dataset: DatasetKind;
  /**
   * resize both label maps (nearest) to this grid first; upstream's test protocol uses 160×160×80,
   * so its voxel-unit ASD is on that grid (method-spec §2)
   */
  resize: Vec3 | null;
}

export interface CaseResult {
  id: string;
  metrics: Record<string, ClassMetrics>;
}

export interface Summary {
  /** mean over cases of each class; distances in mm over the cases where both masks exist */
  classes: Record<string, { dice: number; asd: number; assdMm: number | null; hd95Mm: number | null }>;
  groups: Record<'all' | 'large' | 'small', { dice: number; asd: number; assdMm: number | null; hd95Mm: number | null }>;
}

export interface Evaluation {
  dataset: DatasetKind;
  resize: Vec3 | null;
  cases: CaseResult[];
  summary: Summary;
}

export function evaluateFolders(options: EvaluateOptions, progress?: (done: number, total: number, id: string) => void): Evaluation {
  const pairs = matchFiles(options.pred, options.gt);
  const organs = classesOf(options.dataset).slice(1);
  const cases: CaseResult[] = [];
  pairs.forEach(({ id, pred: predPath, gt: gtPath }, n) => {
    let gt = niftiToLabels(readNifti(gtPath));
    let pred = niftiToLabels(readNifti(predPath));
    checkSameGrid(id, gt, pred);
    checkLabelRange(`${id} (ground truth)`, gt, options.dataset);
    checkLabelRange(`${id} (prediction)`, pred, options.dataset);
    // Orientation does not change any metric; reorienting keeps "resize" meaning X×Y×Z in RAS+.
    const map = canonicalAxisMap(gt.affine);
    gt = applyAxisMap(gt, map);
    pred = applyAxisMap(pred, map);
    if (options.resize) {
      gt = resampleToShape(gt, options.resize, 'nearest');
      pred = resampleToShape(pred, options.resize, 'nearest');
    }
    // ASD is in voxels of this grid whatever the spacing; ASSD/HD95 use the (resized) voxel size.
    const perClass = caseMetrics(pred.data, gt.data, gt.dims, spacingOf(gt.affine), organs.length + 1);
    cases.push({ id, metrics: Object.fromEntries(organs.map((o) => [o.key, perClass[o.id]!])) });
    progress?.(n + 1, pairs.length, id);
  });
  return { dataset: options.dataset, resize: options.resize, cases, summary: summarize(cases, organs) };
}

function summarize(cases: CaseResult[], organs: readonly OrganClass[]): Summary {
  const mean = (values: (number | null)[]): number | null => {
    const v = values.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const classes: Summary['classes'] = {};
  for (const o of organs) {
    const rows = cases.map((c) => c.metrics[o.key]!);
    classes[o.key] = {
      dice: mean(rows.map((r) => r.dice))!,
      asd: mean(rows.map((r) => r.asd))!,
      assdMm: mean(rows.map((r) => r.assdMm)),
      hd95Mm: mean(rows.map((r) => r.hd95Mm)),
    };
  }
  const group = (members: readonly OrganClass[]): Summary['groups']['all'] => ({
    dice: mean(members.map((o) => classes[o.key]!.dice))!,
    asd: mean(members.map((o) => classes[o.key]!.asd))!,
    assdMm: mean(members.map((o) => classes[o.key]!.assdMm)),
    hd95Mm: mean(members.map((o) => classes[o.key]!.hd95Mm)),
  });
  return {
    classes,
    groups: { all: group(organs), large: group(organs.filter((o) => o.group === 'large')), small: group(organs.filter((o) => o.group === 'small')) },
  };
}

/** Pairs `pred/X.nii.gz` with `gt/X.nii.gz` (either extension); every ground truth needs a prediction. */
function matchFiles(predDir: string, gtDir: string): { id: string; pred: string; gt: string }[] {
  const list = (dir: string, what: string): Map<string, string> => {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TakError(`${what} folder ${dir} does not exist`);
    const files = readdirSync(dir).filter((f) => /\.nii(\.gz)?$/.test(f) && !f.startsWith('.'));
    return new Map(files.map((f) => [f.replace(/\.nii(\.gz)?$/, ''), join(dir, f)]));
  };
  const gt = list(gtDir, 'ground-truth');
  const pred = list(predDir, 'prediction');
  if (gt.size === 0) throw new TakError(`ground-truth folder ${gtDir} holds no .nii/.nii.gz files`);
  const missing = [...gt.keys()].filter((id) => !pred.has(id));
  if (missing.length > 0) {
    throw new TakError(`${missing.length} ground-truth case(s) have no prediction in ${predDir}: ${show(missing)}; predict them or evaluate a folder with only the predicted cases`);
  }
  return [...gt.keys()].sort().map((id) => ({ id, pred: pred.get(id)!, gt: gt.get(id)! }));
}
