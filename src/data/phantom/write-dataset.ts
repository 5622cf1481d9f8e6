import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TakError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import type { DatasetKind } from '../classes.js';
import { classesOf } from '../classes.js';
import { writeNifti } from '../nifti-write.js';
import type { AxisMap } from '../orientation.js';
import { applyAxisMap } from '../orientation.js';
import type { Vec3 } from '../volume.js';
import { gridAffine, phantomGrid } from './grid.js';
import { synthesizeCase } from './synth-case.js';

/**
 * Writes a phantom dataset folder that the AMOS22 or Synapse loader (datasets.ts) reads unchanged:
 * `amos` → `dataset.json` + `imagesTr/labelsTr/amos_XXXX.nii.gz` (+ `imagesVa/labelsVa`);
 * `synapse` → `RawData/Training/img/imgXXXX.nii.gz` + `label/labelXXXX.nii.gz`.
 * Volumes are stored the way DICOM converters usually store CT — LPS voxel order (affine
 * diag(−sx, −sy, sz)), int16 HU images, uint8 labels — so loading exercises reorientation.
 */
export interface SynthOptions {
  out: string;
  cases: number;
  /** cases written to imagesVa/labelsVa (AMOS layout only) */
  validationCases: number;
  seed: number;
  dims: Vec3;
  spacing?: Vec3;
  layout: DatasetKind;
  /** replace an existing dataset in `out` */
  overwrite: boolean;
  /** called after each case is written */
  progress?: (done: number, total: number, id: string) => void;
}

export interface SynthResult {
  /** voxels of each class id, summed over all cases */
  classVoxels: number[];
  caseIds: string[];
}

/** RAS+ generation order → LPS storage order: flip the first two axes. */
const TO_LPS: AxisMap = { from: [0, 1, 2], flip: [true, true, false] };

export function writePhantomDataset(options: SynthOptions): SynthResult {
  const { out, layout, seed } = options;
  if (!(Number.isInteger(options.cases) && options.cases >= 1)) throw new TakError(`--cases must be a positive integer, got ${options.cases}`);
  if (layout === 'synapse' && options.validationCases > 0) throw new TakError('validation cases (imagesVa) exist only in the AMOS layout; use --layout amos or drop --val-cases');
  if (!options.overwrite && existsSync(out) && readdirSync(out).length > 0) {
    throw new TakError(`${out} is not empty; choose a new folder or pass --force to write the phantom over it`);
  }
  const grid = phantomGrid(options.dims, options.spacing);
  const affine = gridAffine(grid);
  const classVoxels = new Array<number>(classesOf(layout).length).fill(0);
  const total = options.cases + options.validationCases;
  const training: { image: string; label: string }[] = [];
  const validation: { image: string; label: string }[] = [];
  const caseIds: string[] = [];
  for (let index = 0; index < total; index++) {
    const number = String(index + 1).padStart(4, '0');
    const phantom = synthesizeCase(grid, seed, index, layout);
    for (const v of phantom.label) classVoxels[v]!++;
    const image = applyAxisMap({ dims: grid.dims, affine, data: phantom.image }, TO_LPS);
    const label = applyAxisMap({ dims: grid.dims, affine, data: phantom.label }, TO_LPS);
    const description = `tak-wgpu phantom seed ${seed} case ${index}`;
    let id: string;
    if (layout === 'amos') {
      id = `amos_${number}`;
      const [imageDir, labelDir, list] = index < options.cases ? ['imagesTr', 'labelsTr', training] : ['imagesVa', 'labelsVa', validation];
      writeNifti(join(out, imageDir, `${id}.nii.gz`), image, { description });
      writeNifti(join(out, labelDir, `${id}.nii.gz`), label, { description });
      list.push({ image: `./${imageDir}/${id}.nii.gz`, label: `./${labelDir}/${id}.nii.gz` });
    } else {
      id = number;
      writeNifti(join(out, 'RawData', 'Training', 'img', `img${number}.nii.gz`), image, { description });
      writeNifti(join(out, 'RawData', 'Training', 'label', `label${number}.nii.gz`), label, { description });
    }
    caseIds.push(id);
    options.progress?.(index + 1, total, id);
  }
  if (layout === 'amos') {
    // Written last: a folder without dataset.json is not mistaken for a complete dataset.
    writeFileAtomic(join(out, 'dataset.json'), `${JSON.stringify(amosDatasetJson(training, validation, seed), null, 2)}\n`);
  }
  return { classVoxels, caseIds };
}

function amosDatasetJson(training: { image: string; label: string }[], validation: { image: string; label: string }[], seed: number): object {
  return {
    name: 'AMOS-phantom',
    description: `Synthetic abdominal CT phantom with the AMOS22 classes, written by tak-wgpu data synth (seed ${seed})`,
    tensorImageSize: '3D',
    reference: 'tak-wgpu',
    licence: 'CC0',
    release: '1.0',
    modality: { '0': 'CT' },
    labels: Object.fromEntries(classesOf('amos').map((c) => [String(c.id), c.datasetJsonName])),
    numTraining: training.length,
    numValidation: validation.length,
    numTest: 0,
    training,
    validation,
    test: [],
  };
}

/** Per-class rows for printing: share of organ voxels (background excluded) and of all voxels. */
export function classShareRows(classVoxels: number[], dataset: DatasetKind): { abbreviation: string; key: string; voxels: number; ofOrgans: number; ofAll: number }[] {
  const all = classVoxels.reduce((a, b) => a + b, 0);
  const organs = all - classVoxels[0]!;
  return classesOf(dataset).map((c) => ({
    abbreviation: c.abbreviation,
    key: c.key,
    voxels: classVoxels[c.id]!,
    ofOrgans: c.id === 0 ? NaN : classVoxels[c.id]! / organs,
    ofAll: classVoxels[c.id]! / all,
  }));
}
