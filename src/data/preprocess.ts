import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TakError, show } from '../util/errors.js';
import type { DatasetKind } from './classes.js';
import type { CaseRef } from './datasets.js';
import type { IntensityWindow } from './intensity.js';
import { applyIntensityWindow } from './intensity.js';
import { decodeNifti, niftiToImage, niftiToLabels } from './nifti-read.js';
import { decodeNpy } from './npy.js';
import type { AxisMap } from './orientation.js';
import { applyAxisMap, canonicalAxisMap } from './orientation.js';
import { resampleToShape, resampleToSpacing } from './resample.js';
import { checkFinite, checkLabelRange, checkNotEmpty, checkSameGrid } from './validate.js';
import type { Affine, Vec3, Volume } from './volume.js';
import { identityAffine } from './volume.js';

/**
 * From files on disk to the arrays the network trains on: decode, validate, reorient to canonical
 * RAS+ (orientation.ts), resample, normalise intensities.
 */
export interface PreprocessOptions {
  /** intensity normalisation (intensity.ts); TAK's fixed window by default */
  window: IntensityWindow;
  /** reorder voxels to canonical RAS+ (default true; npy arrays carry no affine and are left as stored) */
  reorient: boolean;
  /** resample to a fixed grid size (DHC: 160×160×80) or voxel size in mm; none by default */
  resample: { shape: Vec3 } | { spacing: Vec3 } | null;
}

export const DEFAULT_PREPROCESS: PreprocessOptions = { window: 'tak', reorient: true, resample: null };

/** Where a prepared volume came from, enough to map a prediction back onto the file's own grid. */
export interface SourceGrid {
  dims: Vec3;
  affine: Affine;
  /** the permutation/flip applied before resampling */
  toCanonical: AxisMap;
}

export interface PreparedCase {
  id: string;
  modality: CaseRef['modality'];
  /** grid of `image`/`label`: canonical order, after resampling */
  dims: Vec3;
  affine: Affine;
  image: Float32Array;
  label: Uint8Array | null;
  source: SourceGrid;
}

/** The files of a case, read once: their bytes feed both the cache key and the decoder. */
export interface CaseBytes {
  image: Uint8Array;
  label: Uint8Array | null;
}

export function readCaseBytes(ref: CaseRef): CaseBytes {
  const read = (path: string): Uint8Array => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TakError(`case ${ref.id}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { image: read(ref.image), label: ref.label === null ? null : read(ref.label) };
}

/** sha256 over the case's file contents and the options: the preprocessing cache key. */
export function preprocessKey(bytes: CaseBytes, dataset: DatasetKind, options: PreprocessOptions): string {
  const hash = createHash('sha256');
  hash.update(`tak-wgpu preprocess v1 ${dataset} ${JSON.stringify(options)}\n`);
  hash.update(createHash('sha256').update(bytes.image).digest());
  if (bytes.label) hash.update(createHash('sha256').update(bytes.label).digest());
  return hash.digest('hex');
}

export function prepareCase(ref: CaseRef, bytes: CaseBytes, dataset: DatasetKind, options: PreprocessOptions): PreparedCase {
  let { image, label } = decodeCase(ref, bytes);
  checkFinite(ref.id, image);
  if (label) {
    checkSameGrid(ref.id, image, label);
    checkLabelRange(ref.id, label, dataset);
    checkNotEmpty(ref.id, label);
  }
  const source: SourceGrid = { dims: image.dims, affine: image.affine, toCanonical: { from: [0, 1, 2], flip: [false, false, false] } };
  if (options.reorient && ref.format === 'nifti') {
    source.toCanonical = canonicalAxisMap(image.affine);
    image = applyAxisMap(image, source.toCanonical);
    if (label) label = applyAxisMap(label, source.toCanonical);
  }
  if (options.resample) {
    const target = options.resample;
    image = 'shape' in target ? resampleToShape(image, target.shape, 'linear') : resampleToSpacing(image, target.spacing, 'linear');
    if (label) label = 'shape' in target ? resampleToShape(label, target.shape, 'nearest') : resampleToSpacing(label, target.spacing, 'nearest');
  }
  applyIntensityWindow(image.data, options.window);
  return { id: ref.id, modality: ref.modality, dims: image.dims, affine: image.affine, image: image.data, label: label?.data ?? null, source };
}

function decodeCase(ref: CaseRef, bytes: CaseBytes): { image: Volume<Float32Array>; label: Volume<Uint8Array> | null } {
  if (ref.format === 'nifti') {
    return {
      image: niftiToImage(decodeNifti(bytes.image, ref.image)),
      label: bytes.label && ref.label ? niftiToLabels(decodeNifti(bytes.label, ref.label)) : null,
    };
  }
  const image = npyVolume(bytes.image, ref.image);
  const label = bytes.label && ref.label ? npyVolume(bytes.label, ref.label) : null;
  return {
    image: { ...image, data: Float32Array.from(image.data) },
    label: label ? { ...label, data: labelsFromNumbers(label.data, ref.label!) } : null,
  };
}

/**
 * A .npy array as a volume. DHC saved `sitk.GetArrayFromImage` output, shape (Z, Y, X) in C order,
 * so X is fastest in memory — the same voxel order as the NIfTI it came from; dims are the shape
 * reversed. There is no affine: unit spacing, identity orientation.
 */
function npyVolume(bytes: Uint8Array, source: string): Volume {
  const npy = decodeNpy(bytes, source);
  if (npy.shape.length !== 3) throw new TakError(`${source} has shape ${show(npy.shape)}; a 3-D array is expected`);
  const dims = (npy.fortranOrder ? [...npy.shape] : [...npy.shape].reverse()) as Vec3;
  return { dims, affine: identityAffine(), data: npy.data };
}

function labelsFromNumbers(values: ArrayLike<number>, source: string): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const label = Math.round(v);
    if (!(Math.abs(v - label) < 1e-3 && label >= 0 && label <= 255)) throw new TakError(`${source}: element ${i} holds ${v}, not a label id in 0..255`);
    out[i] = label;
  }
  return out;
}
