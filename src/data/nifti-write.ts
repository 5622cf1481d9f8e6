import { gzipSync } from 'node:zlib';
import { TakError, show } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { qformFromAffine } from './nifti-affine.js';
import type { Volume } from './volume.js';
import { spacingOf, voxelCount } from './volume.js';

/** What may be written: labels as uint8, images as int16 (CT HU) or float32. */
export type WritableVolume = Volume<Uint8Array> | Volume<Int16Array> | Volume<Float32Array>;

export interface NiftiWriteOptions {
  /** up to 79 ASCII characters stored in `descrip` */
  description?: string;
  /** NIfTI xform codes; 1 = scanner anatomical, 2 = aligned. Both 1 by default, as dcm2niix writes. */
  qformCode?: number;
  sformCode?: number;
}

const HEADER_BYTES = 348;
const VOX_OFFSET = 352; // header + the 4-byte "no extensions" flag

/**
 * Encodes a NIfTI-1 single file (`n+1`), little endian: header written by hand (offsets in
 * data-and-text.md §5), the same affine stored as sform and — when it is a rotation + zooms — as
 * qform, spacing in pixdim, units mm + s. Gzipped when `gzip` is true (for `.nii.gz`).
 */
export function encodeNifti1(volume: WritableVolume, options: NiftiWriteOptions = {}, gzip = true): Uint8Array {
  const { dims, affine, data } = volume;
  if (data.length !== voxelCount(dims)) {
    throw new TakError(`cannot write NIfTI: ${data.length} voxels do not fill a ${show(dims)} grid; this is a bug in the caller`);
  }
  if (dims.some((n) => n > 32767)) throw new TakError(`cannot write NIfTI-1: dimension ${show(dims)} exceeds 32767`);
  const [code, bitpix] = data instanceof Uint8Array ? [2, 8] : data instanceof Int16Array ? [4, 16] : [16, 32];
  const out = new Uint8Array(VOX_OFFSET + data.byteLength);
  const view = new DataView(out.buffer);
  view.setInt32(0, HEADER_BYTES, true);
  view.setUint8(39, 0); // dim_info
  const dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
  dim.forEach((d, i) => view.setInt16(40 + 2 * i, d, true));
  view.setInt16(70, code, true);
  view.setInt16(72, bitpix, true);

  const qform = qformFromAffine(affine);
  const spacing = spacingOf(affine);
  const pixdim = [qform?.qfac ?? 1, spacing[0], spacing[1], spacing[2], 1, 1, 1, 1];
  pixdim.forEach((p, i) => view.setFloat32(76 + 4 * i, p, true));
  view.setFloat32(108, VOX_OFFSET, true);
  view.setFloat32(112, 1, true); // scl_slope: voxels are stored unscaled
  view.setFloat32(116, 0, true);
  view.setUint8(123, 2 | 8); // xyzt_units: mm, s
  const description = (options.description ?? 'tak-wgpu').slice(0, 79);
  for (let i = 0; i < description.length; i++) view.setUint8(148 + i, description.charCodeAt(i) & 0x7f);

  view.setInt16(252, qform ? (options.qformCode ?? 1) : 0, true);
  view.setInt16(254, options.sformCode ?? 1, true);
  if (qform) {
    qform.quaternBCD.forEach((q, i) => view.setFloat32(256 + 4 * i, q, true));
    qform.offset.forEach((o, i) => view.setFloat32(268 + 4 * i, o, true));
  }
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) view.setFloat32(280 + (r * 4 + c) * 4, affine[r]![c]!, true);
  out.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0"

  // Voxels: this machine is little endian (x86, ARM), the same as the header says.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), VOX_OFFSET);
  return gzip ? gzipSync(out, { level: 6 }) : out;
}

/** Writes `volume` to `path` (.nii.gz gzipped, .nii raw) through a temp file and a rename. */
export function writeNifti(path: string, volume: WritableVolume, options: NiftiWriteOptions = {}): void {
  const gzip = path.endsWith('.nii.gz');
  if (!gzip && !path.endsWith('.nii')) throw new TakError(`cannot write ${path}: a NIfTI file name must end in .nii.gz or .nii`);
  writeFileAtomic(path, encodeNifti1(volume, options, gzip));
}
