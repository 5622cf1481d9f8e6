import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { DatasetKind } from '../../data/classes.js';
import { parseDataset } from '../../data/classes.js';
import type { CaseRef } from '../../data/datasets.js';
import { caseIdFromFile, findCase, indexDataset } from '../../data/datasets.js';
import { prepareCase, readCaseBytes } from '../../data/preprocess.js';
import { classShareRows, writePhantomDataset } from '../../data/phantom/write-dataset.js';
import type { Vec3 } from '../../data/volume.js';
import { spacingOf } from '../../data/volume.js';
import type { Plane } from '../../eval/render.js';
import { PLANES, renderLabelViews, renderSliceOverlay } from '../../eval/render.js';
import { TakError, show } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';

/** "160x160x80" or "2.4,2.4,5" → three positive numbers. */
export function parseTriple(text: string, what: string, integer: boolean): Vec3 {
  const parts = text.split(/[x×,]/).map(Number);
  if (parts.length !== 3 || parts.some((v) => !(v > 0) || (integer && !Number.isInteger(v)))) {
    throw new TakError(`${what} ${show(text)} must be three positive ${integer ? 'integers' : 'numbers'} like ${integer ? '160x160x80' : '2.4x2.4x5'}`);
  }
  return parts as Vec3;
}

interface SynthArgs {
  out: string;
  cases: number;
  'val-cases': number;
  seed: number;
  shape: string;
  spacing?: string;
  layout: string;
  force?: boolean;
}

const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'write a synthetic abdominal CT dataset (phantom) in the AMOS22 or Synapse layout',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'folder to create' })
      .option('cases', { type: 'number', default: 8, describe: 'training cases (imagesTr/labelsTr)' })
      .option('val-cases', { type: 'number', default: 0, describe: 'extra cases in imagesVa/labelsVa (AMOS layout)' })
      .option('seed', { type: 'number', default: 1, describe: 'random seed; the same seed gives the same files' })
      .option('shape', { type: 'string', default: '160x160x80', describe: 'voxels X×Y×Z (left-right × front-back × head-feet)' })
      .option('spacing', { type: 'string', describe: 'voxel size in mm, e.g. 2.4x2.4x5 (default: a 380×380×400 mm field of view)' })
      .option('layout', { type: 'string', choices: ['amos', 'synapse'], default: 'amos' })
      .option('force', { type: 'boolean', describe: 'write into a folder that is not empty' }) as unknown as Argv<SynthArgs>,
  handler: (args) => {
    const layout = parseDataset(args.layout);
    const dims = parseTriple(args.shape, '--shape', true);
    const spacing = args.spacing ? parseTriple(args.spacing, '--spacing', false) : undefined;
    const started = Date.now();
    const result = writePhantomDataset({
      out: args.out,
      cases: args.cases,
      validationCases: args['val-cases'],
      seed: args.seed,
      dims,
      spacing,
      layout,
      overwrite: args.force === true,
      progress: (done, total, id) => process.stderr.write(`\r  case ${done}/${total} (${id})`),
    });
    process.stderr.write('\n');
    process.stdout.write(`wrote ${result.caseIds.length} ${layout} phantom cases of ${dims.join('×')} voxels to ${args.out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${printShares(result.classVoxels, layout)}`);
  },
};

function printShares(classVoxels: number[], dataset: DatasetKind): string {
  const rows = classShareRows(classVoxels, dataset);
  const lines = ['class                      voxels   % of organs   % of all'];
  for (const r of rows) {
    const organs = Number.isNaN(r.ofOrgans) ? '' : (100 * r.ofOrgans).toFixed(2);
    lines.push(`${`${r.abbreviation} ${r.key}`.padEnd(26)}${String(r.voxels).padStart(8)}${organs.padStart(14)}${(100 * r.ofAll).toFixed(3).padStart(11)}`);
  }
  return `${lines.join('\n')}\n`;
}

interface ShowArgs {
  case: string;
  data?: string;
  label?: string;
  dataset?: string;
  out: string;
  size: number;
}

const showCommand: CommandModule<object, ShowArgs> = {
  command: 'show <case>',
  describe: 'write PNG pictures of a case: axial/coronal/sagittal slices with labels, 3-D label views',
  builder: (y) =>
    y
      .positional('case', { type: 'string', demandOption: true, describe: 'an image file (.nii/.nii.gz/_image.npy), or a case id with --data' })
      .option('data', { type: 'string', describe: 'dataset folder to look the case id up in' })
      .option('label', { type: 'string', describe: 'label file, when it is not found next to the image' })
      .option('dataset', { type: 'string', choices: ['amos', 'synapse'], describe: 'class set for colours and legend (default: from the folder)' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the PNG files' })
      .option('size', { type: 'number', default: 384, describe: 'picture size in pixels (longest side)' }) as unknown as Argv<ShowArgs>,
  handler: (args) => {
    const { ref, dataset } = resolveCase(args);
    const prepared = prepareCase(ref, readCaseBytes(ref), dataset, { window: 'none', reorient: true, resample: null });
    const spacing = spacingOf(prepared.affine);
    const written: string[] = [];
    const save = (name: string, png: Buffer): void => {
      const path = join(args.out, `${ref.id}-${name}.png`);
      writeFileAtomic(path, png);
      written.push(path);
    };
    for (const plane of PLANES as readonly Plane[]) save(plane, renderSliceOverlay(prepared.image, prepared.label, prepared.dims, spacing, { dataset, plane, size: args.size }));
    if (prepared.label) {
      for (const view of renderLabelViews(prepared.label, prepared.dims, spacing, { dataset, size: args.size })) save(view.name, view.png);
    }
    process.stdout.write(`${written.join('\n')}\n`);
  },
};

/** A case from a dataset folder and id, or from an image path with its label found by naming convention. */
function resolveCase(args: ShowArgs): { ref: CaseRef; dataset: DatasetKind } {
  if (args.data) {
    const index = indexDataset(args.data, { dataset: args.dataset ? parseDataset(args.dataset) : undefined });
    return { ref: findCase(index, args.case), dataset: args.dataset ? parseDataset(args.dataset) : index.dataset };
  }
  if (!existsSync(args.case) || !statSync(args.case).isFile()) throw new TakError(`${args.case} is not a file; pass an image path, or a case id together with --data DIR`);
  const format = args.case.endsWith('.npy') ? 'npy' : 'nifti';
  const label = args.label ?? guessLabelPath(args.case);
  const dataset = args.dataset ? parseDataset(args.dataset) : /(^|[\\/])img\d+\.nii/.test(args.case) ? 'synapse' : 'amos';
  return { ref: { id: caseIdFromFile(args.case), image: args.case, label, format, modality: 'CT', subset: 'train' }, dataset };
}

/** imagesTr/x.nii.gz → labelsTr/x.nii.gz; img/img0001 → label/label0001; x_image.npy → x_label.npy. */
function guessLabelPath(image: string): string | null {
  const dir = dirname(image);
  const name = basename(image);
  const candidates = [
    join(dirname(dir), basename(dir).replace(/^images/, 'labels'), name),
    join(dirname(dir), 'label', name.replace(/^img/, 'label')),
    image.replace(/_image\.npy$/, '_label.npy'),
  ];
  return candidates.find((p) => p !== image && existsSync(p)) ?? null;
}

export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'datasets: synthesize a phantom, show a case',
  builder: (y) => y.command(synthCommand).command(showCommand).demandCommand(1),
  handler: () => {},
};
