import { TakError, show } from '../util/errors.js';
import type { DatasetKind } from './classes.js';
import { classCount } from './classes.js';
import type { Volume } from './volume.js';
import { affineDistance, formatDims, sameDims, spacingOf } from './volume.js';

/**
 * Checks made when a case is loaded, so that a broken file stops the run with the case named
 * instead of poisoning training: image and label on the same grid, finite intensities, label ids
 * the dataset knows, and a label map that labels something.
 */

/** Grids agree when dims match and every affine entry is within 1 % of a voxel (float32 rounding in headers). */
export function checkSameGrid(id: string, image: Volume, label: Volume): void {
  if (!sameDims(image.dims, label.dims)) {
    throw new TakError(`case ${id}: image is ${formatDims(image.dims)} but its label map is ${formatDims(label.dims)}; they must be on the same voxel grid`);
  }
  const tolerance = 0.01 * Math.min(...spacingOf(image.affine));
  const distance = affineDistance(image.affine, label.affine);
  if (distance > tolerance) {
    throw new TakError(
      `case ${id}: image and label affines differ by up to ${distance.toFixed(4)} mm (image ${show(image.affine.slice(0, 3).map((r) => r.map((v) => +v.toFixed(3))))}, label ${show(label.affine.slice(0, 3).map((r) => r.map((v) => +v.toFixed(3))))}); resample the label onto the image grid`,
    );
  }
}

export function checkFinite(id: string, image: Volume<Float32Array>): void {
  const data = image.data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      const [nx, ny] = image.dims;
      throw new TakError(`case ${id}: image voxel (${i % nx}, ${Math.floor(i / nx) % ny}, ${Math.floor(i / (nx * ny))}) is ${data[i]}; fix or drop the case (NaN/inf voxels would turn the loss into NaN)`);
    }
  }
}

/** Every label id must exist in `dataset` (0..classes−1). */
export function checkLabelRange(id: string, label: Volume<Uint8Array>, dataset: DatasetKind): void {
  const limit = classCount(dataset);
  const seen = new Uint8Array(256);
  const data = label.data;
  for (let i = 0; i < data.length; i++) seen[data[i]!] = 1;
  const bad = [...seen.keys()].filter((v) => v >= limit && seen[v]);
  if (bad.length > 0) {
    throw new TakError(`case ${id}: label ids ${show(bad)} are out of range for ${dataset} (0..${limit - 1}); is this label map from another dataset or a different label convention?`);
  }
}

/** A training label map must label something. */
export function checkNotEmpty(id: string, label: Volume<Uint8Array>): void {
  if (label.data.every((v) => v === 0)) throw new TakError(`case ${id}: the label map is empty (all background); drop the case or list it as unlabelled`);
}
