import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { classCount, type DatasetKind } from '../data/classes.js';
import { indexDataset, type CaseRef } from '../data/datasets.js';
import { writePhantomDataset } from '../data/phantom/write-dataset.js';
import type { PreprocessOptions } from '../data/preprocess.js';
import { readSplitFolder, seededSplit } from '../data/splits.js';
import { TakError, show } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { TrainConfig } from './config.js';

/** The cases of a run: labelled and unlabelled training, validation (during training) and test. */
export interface TrainingData {
  root: string;
  dataset: DatasetKind;
  classes: number;
  labeled: CaseRef[];
  unlabeled: CaseRef[];
  validation: CaseRef[];
  test: CaseRef[];
  preprocess: PreprocessOptions;
  cacheDir: string;
  /** One line for the log: where the data came from. */
  description: string;
}

/** Where tak-wgpu keeps the phantom and preprocessed volumes (TAK_WGPU_CACHE, else ~/.cache/tak-wgpu). */
export function cacheRoot(): string {
  return process.env.TAK_WGPU_CACHE ?? join(homedir(), '.cache', 'tak-wgpu');
}

/**
 * The embedded default dataset: the synthetic phantom, written once per setting into the cache
 * (under a temporary name, then renamed, so an interrupted synthesis is redone, not reused).
 */
export function ensurePhantom(config: TrainConfig, log: (line: string) => void): string {
  const shape = config.phantomShape.join('x');
  const dir = join(cacheRoot(), `phantom-${config.dataset}-${shape}-${config.phantomCases}+${config.phantomValCases}-seed${config.phantomSeed}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  const temporary = `${dir}.${process.pid}.tmp`;
  rmSync(temporary, { recursive: true, force: true });
  log(`synthesising the phantom (${config.phantomCases} training + ${config.phantomValCases} test cases of ${shape} voxels) into ${dir}`);
  mkdirSync(cacheRoot(), { recursive: true });
  writePhantomDataset({
    out: temporary,
    cases: config.phantomCases,
    validationCases: config.phantomValCases,
    seed: config.phantomSeed,
    dims: config.phantomShape,
    layout: config.dataset,
    overwrite: false,
  });
  writeFileAtomic(join(temporary, '.complete'), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(temporary, dir);
  return dir;
}

/** "5%" → 0.05 of the training cases; "10" → 10 cases. */
function labeledFraction(labeled: string, available: number): number {
  if (labeled.endsWith('%')) return Number(labeled.slice(0, -1)) / 100;
  const count = Number(labeled);
  if (!(count >= 1 && count <= available)) throw new TakError(`--labeled ${show(labeled)}: there are ${available} training cases`);
  return count / available;
}

export function prepareTrainingData(config: TrainConfig, log: (line: string) => void): TrainingData {
  const phantom = !config.data;
  const root = phantom ? ensurePhantom(config, log) : config.data;
  const index = indexDataset(root, { dataset: config.dataset });
  const byId = new Map(index.cases.map((c) => [c.id, c]));
  const trainable = index.cases.filter((c) => c.subset === 'train' && c.label);
  const held = index.cases.filter((c) => c.subset === 'validation' && c.label);
  let split;
  if (config.splits) {
    const tag = config.labeled.endsWith('%') ? `${config.labeled.slice(0, -1)}p` : config.labeled;
    split = readSplitFolder(config.splits, tag, byId.keys());
  } else {
    const evalCount = Math.max(1, Math.round(trainable.length / 10));
    if (trainable.length < 3) throw new TakError(`${root} has ${trainable.length} labelled training cases; training needs at least 3 (labelled, unlabelled, validation)`);
    const rest = trainable.length - evalCount;
    split = seededSplit(trainable.map((c) => c.id), {
      labeledFraction: labeledFraction(config.labeled, rest),
      evalCount,
      seed: config.seed,
      test: held.map((c) => c.id),
    });
  }
  const refs = (ids: string[]) => ids.map((id) => byId.get(id)!);
  const data: TrainingData = {
    root,
    dataset: index.dataset,
    classes: classCount(index.dataset),
    labeled: refs(split.labeled),
    unlabeled: refs(split.unlabeled),
    validation: refs(split.eval),
    test: refs(split.test).filter((c) => c.label),
    preprocess: { window: 'tak', reorient: true, resample: null },
    cacheDir: join(cacheRoot(), 'preprocessed'),
    description: '',
  };
  if (data.unlabeled.length === 0) throw new TakError(`The split of ${root} leaves no unlabelled case; lower --labeled (now ${config.labeled})`);
  data.description =
    `${phantom ? 'synthetic phantom' : root} (${index.dataset}): ${data.labeled.length} labelled + ${data.unlabeled.length} unlabelled training cases, ` +
    `${data.validation.length} validation, ${data.test.length} test`;
  return data;
}
