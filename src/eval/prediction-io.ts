import type { PreparedCase } from '../data/preprocess.js';
import { writeNifti } from '../data/nifti-write.js';
import { applyAxisMap, inverseAxisMap, mappedDims } from '../data/orientation.js';
import { resampleToShape } from '../data/resample.js';
import type { Volume } from '../data/volume.js';
import { TakError } from '../util/errors.js';

/**
 * A label map predicted on a prepared case's grid (canonical RAS+, possibly resampled) brought
 * back to the grid of the file the case came from — same dims, same voxel order, same affine —
 * so it overlays the original image in ITK-SNAP or 3D Slicer.
 */
export function labelsOnSourceGrid(prepared: Pick<PreparedCase, 'dims' | 'affine' | 'source'>, labels: Uint8Array): Volume<Uint8Array> {
  if (labels.length !== prepared.dims[0] * prepared.dims[1] * prepared.dims[2]) {
    throw new TakError(`prediction has ${labels.length} voxels, the prepared grid ${prepared.dims.join('×')} needs ${prepared.dims[0] * prepared.dims[1] * prepared.dims[2]}`);
  }
  const { source } = prepared;
  const canonicalDims = mappedDims(source.dims, source.toCanonical);
  let volume: Volume<Uint8Array> = { dims: prepared.dims, affine: prepared.affine, data: labels };
  if (volume.dims.some((n, a) => n !== canonicalDims[a])) volume = resampleToShape(volume, canonicalDims, 'nearest');
  const back = applyAxisMap(volume, inverseAxisMap(source.toCanonical));
  // The file's own affine, exactly: the round trip through resampling only approximates it in floating point.
  return { dims: back.dims, affine: source.affine, data: back.data };
}

/** Writes a predicted label map on the source grid as uint8 NIfTI (temp file + rename). */
export function writePrediction(path: string, prepared: Pick<PreparedCase, 'id' | 'dims' | 'affine' | 'source'>, labels: Uint8Array): void {
  writeNifti(path, labelsOnSourceGrid(prepared, labels), { description: `tak-wgpu prediction ${prepared.id}` });
}
