import { TakError, show } from '../util/errors.js';

/** The two labelled datasets (method-spec §1). */
export const DATASETS = ['amos', 'synapse'] as const;
export type DatasetKind = (typeof DATASETS)[number];

/**
 * One segmentation class. `group` is the paper's "L." (large) / "S." (small) average, whose
 * membership method-spec §1 derives from the numbers in TAK's Tables 1/2/4.
 */
export interface OrganClass {
  id: number;
  key: string;
  /** the name used in prompts and reports ("right kidney", "prostate or uterus") */
  name: string;
  abbreviation: string;
  /** the string AMOS22's dataset.json uses (typos included: "arota", "postcava") */
  datasetJsonName: string;
  group: 'background' | 'large' | 'small';
}

const organ = (id: number, key: string, abbreviation: string, datasetJsonName: string, group: OrganClass['group'], name = key.replace(/_/g, ' ')): OrganClass => ({
  id,
  key,
  name,
  abbreviation,
  datasetJsonName,
  group,
});

const AMOS: readonly OrganClass[] = [
  organ(0, 'background', 'BG', 'background', 'background'),
  organ(1, 'spleen', 'Sp', 'spleen', 'large'),
  organ(2, 'right_kidney', 'RK', 'right kidney', 'large'),
  organ(3, 'left_kidney', 'LK', 'left kidney', 'large'),
  organ(4, 'gallbladder', 'Ga', 'gall bladder', 'small'),
  organ(5, 'esophagus', 'Es', 'esophagus', 'small'),
  organ(6, 'liver', 'Li', 'liver', 'large'),
  organ(7, 'stomach', 'St', 'stomach', 'large'),
  organ(8, 'aorta', 'Ao', 'arota', 'small'),
  organ(9, 'inferior_vena_cava', 'IVC', 'postcava', 'small'),
  organ(10, 'pancreas', 'PA', 'pancreas', 'small'),
  organ(11, 'right_adrenal_gland', 'RAG', 'right adrenal gland', 'small'),
  organ(12, 'left_adrenal_gland', 'LAG', 'left adrenal gland', 'small'),
  organ(13, 'duodenum', 'Du', 'duodenum', 'small'),
  organ(14, 'bladder', 'Bl', 'bladder', 'large'),
  organ(15, 'prostate_uterus', 'P/U', 'prostate/uterus', 'small', 'prostate or uterus'),
];

// Synapse/BTCV: 13 organs, PSV at 10 shifts pancreas and adrenals up by one (method-spec §1).
const SYNAPSE: readonly OrganClass[] = [
  ...AMOS.slice(0, 10),
  organ(10, 'portal_splenic_vein', 'PSV', 'portal vein and splenic vein', 'small', 'portal vein and splenic vein'),
  organ(11, 'pancreas', 'PA', 'pancreas', 'small'),
  organ(12, 'right_adrenal_gland', 'RAG', 'right adrenal gland', 'small'),
  organ(13, 'left_adrenal_gland', 'LAG', 'left adrenal gland', 'small'),
];

export function classesOf(dataset: DatasetKind): readonly OrganClass[] {
  return dataset === 'amos' ? AMOS : SYNAPSE;
}

/** Number of network output channels: organs + background (AMOS 16, Synapse 14). */
export function classCount(dataset: DatasetKind): number {
  return classesOf(dataset).length;
}

export function parseDataset(value: unknown): DatasetKind {
  if (!(DATASETS as readonly unknown[]).includes(value)) throw new TakError(`unknown dataset ${show(value)}: use one of ${DATASETS.join(', ')}`);
  return value as DatasetKind;
}

/** Label id of a class key in `dataset`, or undefined when that dataset does not label it. */
export function labelIdOf(dataset: DatasetKind, key: string): number | undefined {
  return classesOf(dataset).find((c) => c.key === key)?.id;
}
