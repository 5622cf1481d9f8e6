import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TakError, show } from '../util/errors.js';
import type { DatasetKind } from './classes.js';
import { classesOf } from './classes.js';

/**
 * Finding the cases of a dataset folder. Three layouts (data-and-text.md §1):
 * - `amos`: AMOS22 — `dataset.json` listing `imagesTr/labelsTr/imagesVa/labelsVa/imagesTs` NIfTI files;
 * - `synapse`: Synapse/BTCV — `RawData/Training/{img,label}/{img,label}XXXX.nii.gz`, `RawData/Testing/img`;
 * - `npy`: DHC/GA preprocessed arrays — `{id}_image.npy` and `{id}_label.npy` in one folder.
 */
export type Layout = 'amos' | 'synapse' | 'npy';

export interface CaseRef {
  id: string;
  image: string;
  /** null for unlabelled cases (AMOS imagesTs, Synapse Testing, npy without a label file) */
  label: string | null;
  format: 'nifti' | 'npy';
  /** AMOS ids ≤ 500 are CT, 501–600 MRI; every other dataset here is CT */
  modality: 'CT' | 'MRI';
  /** which part of the release the files come from */
  subset: 'train' | 'validation' | 'test';
}

export interface DatasetIndex {
  root: string;
  layout: Layout;
  dataset: DatasetKind;
  cases: CaseRef[];
}

/** Detects the layout of `root` from what is in it. */
export function detectLayout(root: string): Layout {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new TakError(`dataset folder ${root} does not exist; pass the folder that holds dataset.json, RawData/ or the .npy files`);
  if (existsSync(join(root, 'dataset.json'))) return 'amos';
  if (existsSync(join(root, 'RawData')) || existsSync(join(root, 'Training', 'img'))) return 'synapse';
  if (readdirSync(root).some((f) => f.endsWith('_image.npy'))) return 'npy';
  throw new TakError(`cannot tell the layout of ${root}: expected dataset.json (AMOS22), RawData/Training/img (Synapse) or *_image.npy files (DHC/GA arrays)`);
}

/** Indexes a dataset folder; every listed file must exist. `dataset` is needed only for npy folders of Synapse ids. */
export function indexDataset(root: string, options: { layout?: Layout; dataset?: DatasetKind } = {}): DatasetIndex {
  const dir = resolve(root);
  const layout = options.layout ?? detectLayout(dir);
  const index =
    layout === 'amos' ? indexAmos(dir) : layout === 'synapse' ? indexSynapse(dir) : indexNpy(dir, options.dataset);
  const missing = index.cases.flatMap((c) => [c.image, c.label].filter((p): p is string => p !== null && !existsSync(p)).map((p) => `${c.id}: ${p}`));
  if (missing.length > 0) {
    throw new TakError(`${missing.length} file(s) listed for ${dir} are missing:\n  ${missing.slice(0, 10).join('\n  ')}${missing.length > 10 ? '\n  …' : ''}\ncomplete the download or fix dataset.json`);
  }
  const seen = new Set<string>();
  for (const c of index.cases) {
    if (seen.has(c.id)) throw new TakError(`${dir}: case id ${show(c.id)} appears twice; each image must have a unique name`);
    seen.add(c.id);
  }
  if (index.cases.length === 0) throw new TakError(`${dir} (${layout} layout) lists no cases`);
  return index;
}

interface AmosJson {
  labels?: Record<string, string>;
  training?: { image: string; label?: string }[];
  validation?: { image: string; label?: string }[];
  test?: (string | { image: string })[];
}

function indexAmos(root: string): DatasetIndex {
  const path = join(root, 'dataset.json');
  let json: AmosJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as AmosJson;
  } catch (error) {
    throw new TakError(`cannot parse ${path}: ${(error as Error).message}; it must be AMOS22's nnU-Net-v1 style dataset.json`, { cause: error });
  }
  const labelCount = Object.keys(json.labels ?? {}).length;
  if (labelCount !== classesOf('amos').length) {
    throw new TakError(`${path} lists ${labelCount} labels, AMOS22 has ${classesOf('amos').length} (background + 15 organs); is this an AMOS22 folder?`);
  }
  const at = (p: string): string => join(root, p);
  const cases: CaseRef[] = [];
  const add = (image: string, label: string | null, subset: CaseRef['subset']): void => {
    const id = caseIdFromFile(image);
    cases.push({ id, image: at(image), label: label === null ? null : at(label), format: 'nifti', modality: amosModality(id), subset });
  };
  for (const e of json.training ?? []) add(e.image, e.label ?? null, 'train');
  for (const e of json.validation ?? []) add(e.image, e.label ?? null, 'validation');
  for (const e of json.test ?? []) add(typeof e === 'string' ? e : e.image, null, 'test');
  return { root, layout: 'amos', dataset: 'amos', cases };
}

/** AMOS22: ids ≤ 500 are CT, 501–600 MRI (data-and-text.md §1). */
function amosModality(id: string): 'CT' | 'MRI' {
  const number = Number(/(\d+)$/.exec(id)?.[1]);
  return number > 500 ? 'MRI' : 'CT';
}

function indexSynapse(root: string): DatasetIndex {
  const raw = existsSync(join(root, 'RawData')) ? join(root, 'RawData') : root;
  const cases: CaseRef[] = [];
  const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => /^img\d+\.nii(\.gz)?$/.test(f)).sort() : []);
  for (const file of list(join(raw, 'Training', 'img'))) {
    const number = /^img(\d+)/.exec(file)![1]!;
    const label = join(raw, 'Training', 'label', file.replace(/^img/, 'label'));
    cases.push({ id: number, image: join(raw, 'Training', 'img', file), label, format: 'nifti', modality: 'CT', subset: 'train' });
  }
  for (const file of list(join(raw, 'Testing', 'img'))) {
    const number = /^img(\d+)/.exec(file)![1]!;
    cases.push({ id: number, image: join(raw, 'Testing', 'img', file), label: null, format: 'nifti', modality: 'CT', subset: 'test' });
  }
  return { root, layout: 'synapse', dataset: 'synapse', cases };
}

function indexNpy(root: string, dataset: DatasetKind | undefined): DatasetIndex {
  const images = readdirSync(root).filter((f) => f.endsWith('_image.npy')).sort();
  const ids = images.map((f) => f.slice(0, -'_image.npy'.length));
  // DHC names AMOS arrays amos_0001_*, Synapse arrays 0001_* (data-and-text.md §1).
  const kind = dataset ?? (ids.every((id) => id.startsWith('amos_')) ? 'amos' : 'synapse');
  const cases = ids.map((id): CaseRef => {
    const label = join(root, `${id}_label.npy`);
    return {
      id,
      image: join(root, `${id}_image.npy`),
      label: existsSync(label) ? label : null,
      format: 'npy',
      modality: kind === 'amos' ? amosModality(id) : 'CT',
      subset: 'train',
    };
  });
  return { root, layout: 'npy', dataset: kind, cases };
}

/** `./imagesTr/amos_0001.nii.gz` → `amos_0001`. */
export function caseIdFromFile(path: string): string {
  return path.replace(/^.*[\\/]/, '').replace(/\.nii(\.gz)?$/, '').replace(/_image\.npy$/, '');
}

/** The case with `id`, or a TakError listing a few ids that do exist. */
export function findCase(index: DatasetIndex, id: string): CaseRef {
  const found = index.cases.find((c) => c.id === id || c.id === caseIdFromFile(id));
  if (!found) {
    const some = index.cases.slice(0, 5).map((c) => c.id);
    throw new TakError(`case ${show(id)} is not in ${index.root} (${index.cases.length} cases, e.g. ${some.join(', ')})`);
  }
  return found;
}
