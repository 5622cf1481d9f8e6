import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { DatasetKind } from './classes.js';
import type { CaseRef } from './datasets.js';
import { decodeNpy, encodeNpy } from './npy.js';
import type { PreparedCase, PreprocessOptions } from './preprocess.js';
import { prepareCase, preprocessKey, readCaseBytes } from './preprocess.js';

/**
 * On-disk cache of preprocessed cases, so training decodes each gzip NIfTI once instead of every
 * epoch. An entry is named by the case id and a sha256 of the files' contents plus the options
 * (preprocessKey): editing a file or changing an option gives a new key, never a stale hit.
 * Entry = `{id}-{key}.image.npy` (+ `.label.npy`) + `.json` (grid, source); the JSON is written
 * last, so an interrupted write leaves no entry that looks complete.
 */
export interface CacheStats {
  hits: number;
  misses: number;
}

export function loadPreparedCase(
  ref: CaseRef,
  dataset: DatasetKind,
  options: PreprocessOptions,
  cacheDir: string | null,
  stats?: CacheStats,
): PreparedCase {
  const bytes = readCaseBytes(ref);
  if (cacheDir === null) return prepareCase(ref, bytes, dataset, options);
  const stem = join(cacheDir, `${ref.id}-${preprocessKey(bytes, dataset, options).slice(0, 24)}`);
  const cached = readEntry(stem, ref);
  if (cached) {
    if (stats) stats.hits++;
    return cached;
  }
  if (stats) stats.misses++;
  const prepared = prepareCase(ref, bytes, dataset, options);
  writeEntry(stem, prepared);
  return prepared;
}

type EntryMeta = Omit<PreparedCase, 'image' | 'label'> & { hasLabel: boolean };

function writeEntry(stem: string, prepared: PreparedCase): void {
  const shape = [...prepared.dims].reverse();
  writeFileAtomic(`${stem}.image.npy`, encodeNpy(shape, prepared.image));
  if (prepared.label) writeFileAtomic(`${stem}.label.npy`, encodeNpy(shape, prepared.label));
  const { image: _image, label, ...rest } = prepared;
  const meta: EntryMeta = { ...rest, hasLabel: label !== null };
  writeFileAtomic(`${stem}.json`, `${JSON.stringify(meta)}\n`);
}

function readEntry(stem: string, ref: CaseRef): PreparedCase | null {
  if (!existsSync(`${stem}.json`)) return null;
  try {
    const meta = JSON.parse(readFileSync(`${stem}.json`, 'utf8')) as EntryMeta;
    const image = decodeNpy(readFileSync(`${stem}.image.npy`), `${stem}.image.npy`).data;
    const label = meta.hasLabel ? decodeNpy(readFileSync(`${stem}.label.npy`), `${stem}.label.npy`).data : null;
    if (!(image instanceof Float32Array) || (label !== null && !(label instanceof Uint8Array))) return null;
    const { hasLabel: _hasLabel, ...rest } = meta;
    return { ...rest, id: ref.id, image, label };
  } catch {
    return null; // a damaged entry is recomputed and overwritten
  }
}
