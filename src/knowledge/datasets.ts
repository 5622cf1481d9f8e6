import { TakError, show } from '../util/errors.js';

/** The datasets TAK is evaluated on (method-spec §1). */
export const DATASET_IDS = ['amos', 'synapse'] as const;
export type DatasetId = (typeof DATASET_IDS)[number];

/** One segmentation class: its label id, a stable key, the name used in prompts, the paper's abbreviation. */
export interface ClassInfo {
  id: number;
  key: string;
  name: string;
  abbreviation: string;
}

const c = (id: number, key: string, name: string, abbreviation: string): ClassInfo => ({ id, key, name, abbreviation });

// Label ids as in AMOS22 / DHC / TAK's log strings (method-spec §1); AMOS calls the aorta "arota"
// and the IVC "postcava" in its dataset.json, the prompts use the anatomical names.
const AMOS: readonly ClassInfo[] = [
  c(0, 'background', 'background', 'BG'),
  c(1, 'spleen', 'spleen', 'Sp'),
  c(2, 'right_kidney', 'right kidney', 'RK'),
  c(3, 'left_kidney', 'left kidney', 'LK'),
  c(4, 'gallbladder', 'gallbladder', 'Ga'),
  c(5, 'esophagus', 'esophagus', 'Es'),
  c(6, 'liver', 'liver', 'Li'),
  c(7, 'stomach', 'stomach', 'St'),
  c(8, 'aorta', 'aorta', 'Ao'),
  c(9, 'inferior_vena_cava', 'inferior vena cava', 'IVC'),
  c(10, 'pancreas', 'pancreas', 'PA'),
  c(11, 'right_adrenal_gland', 'right adrenal gland', 'RAG'),
  c(12, 'left_adrenal_gland', 'left adrenal gland', 'LAG'),
  c(13, 'duodenum', 'duodenum', 'Du'),
  c(14, 'bladder', 'bladder', 'Bl'),
  c(15, 'prostate_uterus', 'prostate or uterus', 'P/U'),
];

// Synapse / BTCV: 13 organs + background, ids as in the DHC README and MagicNet/GA logs (method-spec §1).
const SYNAPSE: readonly ClassInfo[] = [
  ...AMOS.slice(0, 10),
  c(10, 'portal_splenic_vein', 'portal vein and splenic vein', 'PSV'),
  c(11, 'pancreas', 'pancreas', 'PA'),
  c(12, 'right_adrenal_gland', 'right adrenal gland', 'RAG'),
  c(13, 'left_adrenal_gland', 'left adrenal gland', 'LAG'),
];

const CLASSES: Record<DatasetId, readonly ClassInfo[]> = { amos: AMOS, synapse: SYNAPSE };

export function isDatasetId(value: unknown): value is DatasetId {
  return typeof value === 'string' && (DATASET_IDS as readonly string[]).includes(value);
}

export function checkDatasetId(value: unknown): DatasetId {
  if (!isDatasetId(value)) {
    throw new TakError(`unknown dataset ${show(value)}: use one of ${DATASET_IDS.join(', ')}`);
  }
  return value;
}

/** The classes of `dataset` in label-id order, background (id 0) first. */
export function datasetClasses(dataset: DatasetId): readonly ClassInfo[] {
  return CLASSES[dataset];
}
