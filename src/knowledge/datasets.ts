import { DATASETS, classesOf, parseDataset, type DatasetKind, type OrganClass } from '../data/classes.js';

/**
 * The datasets and classes the knowledge files describe: the data layer's class tables
 * (src/data/classes.ts, method-spec §1) under the names the knowledge layer uses.
 */
export const DATASET_IDS = DATASETS;
export type DatasetId = DatasetKind;
export type ClassInfo = OrganClass;

export function isDatasetId(value: unknown): value is DatasetId {
  return typeof value === 'string' && (DATASET_IDS as readonly string[]).includes(value);
}

export const checkDatasetId = parseDataset;

/** The classes of `dataset` in label-id order, background (id 0) first. */
export function datasetClasses(dataset: DatasetId): readonly ClassInfo[] {
  return classesOf(dataset);
}
