import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import { TakError, show } from '../util/errors.js';
import { bestAffine } from './nifti-affine.js';
import type { Affine, Vec3, Volume, VoxelArray } from './volume.js';
import { voxelCount } from './volume.js';

/** The voxel types this reader decodes (NIfTI datatype code → name, bytes, array type). */
const DATATYPES = {
  2: { name: 'uint8', bytes: 1, make: (b: ArrayBuffer) => new Uint8Array(b) },
  256: { name: 'int8', bytes: 1, make: (b: ArrayBuffer) => new Int8Array(b) },
  4: { name: 'int16', bytes: 2, make: (b: ArrayBuffer) => new Int16Array(b) },
  512: { name: 'uint16', bytes: 2, make: (b: ArrayBuffer) => new Uint16Array(b) },
  8: { name: 'int32', bytes: 4, make: (b: ArrayBuffer) => new Int32Array(b) },
  768: { name: 'uint32', bytes: 4, make: (b: ArrayBuffer) => new Uint32Array(b) },
  16: { name: 'float32', bytes: 4, make: (b: ArrayBuffer) => new Float32Array(b) },
  64: { name: 'float64', bytes: 8, make: (b: ArrayBuffer) => new Float64Array(b) },
} as const satisfies Record<number, { name: string; bytes: number; make: (b: ArrayBuffer) => VoxelArray }>;

export type NiftiDatatype = (typeof DATATYPES)[keyof typeof DATATYPES]['name'];

/** A decoded NIfTI file: voxels in native byte order, not yet scaled. */
export interface NiftiFile {
  /** where it came from, for error messages */
  source: string;
  version: 1 | 2;
  /** dim[1..dim[0]] */
  shape: number[];
  datatype: NiftiDatatype;
  /** voxels, i fastest, as stored (byte-swapped to this machine's order, unscaled) */
  raw: VoxelArray;
  /** scl_slope/scl_inter, or null when the file stores unscaled values (slope 0 or not finite) */
  scaling: { slope: number; inter: number } | null;
  affine: Affine;
  qformCode: number;
  sformCode: number;
  /** pixdim[1..dim[0]] */
  pixdim: number[];
  xyztUnits: number;
  description: string;
}

export function readNifti(path: string): NiftiFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new TakError(`cannot read NIfTI file ${path}: ${(error as Error).message}; check the path`, { cause: error });
  }
  return decodeNifti(bytes, path);
}

/** Decodes NIfTI-1 or NIfTI-2 bytes, gzipped or not, either byte order. */
export function decodeNifti(input: Uint8Array, source: string): NiftiFile {
  const bytes = isGzip(input) ? gunzipOrThrow(input, source) : input;
  // nifti-reader-js wants a standalone ArrayBuffer; a Node Buffer may be a view into a shared pool.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI(buffer)) {
    throw new TakError(`${source} is not a NIfTI-1/NIfTI-2 file (no "n+1"/"n+2" magic in its ${bytes.byteLength}-byte header); pass a .nii or .nii.gz image`);
  }
  const header = nifti.readHeader(buffer);
  const version = nifti.isNIFTI2(buffer) ? 2 : 1;
  const ndim = header.dims[0]!;
  if (!(ndim >= 1 && ndim <= 7)) throw new TakError(`${source}: dim[0] is ${ndim}, must be 1..7; the header is corrupt`);
  const shape = header.dims.slice(1, ndim + 1).map(Number);
  if (shape.some((n) => !(n >= 1))) throw new TakError(`${source}: dimensions ${show(shape)} must all be ≥ 1; the header is corrupt`);
  const type = DATATYPES[header.datatypeCode as keyof typeof DATATYPES];
  if (!type) {
    throw new TakError(`${source}: NIfTI datatype code ${header.datatypeCode} is not supported (supported: ${Object.values(DATATYPES).map((t) => t.name).join(', ')}); convert the file, e.g. with nibabel or c3d`);
  }
  const count = voxelCount(shape);
  const offset = Number(header.vox_offset);
  const needed = offset + count * type.bytes;
  if (bytes.byteLength < needed) {
    throw new TakError(`${source} is truncated: shape ${show(shape)} of ${type.name} needs ${needed} bytes from vox_offset ${offset}, the file has ${bytes.byteLength}; re-export or re-download it`);
  }
  // A fresh copy (Buffer.slice would share memory): aligned for the typed array, safe to byte-swap.
  const voxels = new Uint8Array(needed - offset);
  voxels.set(bytes.subarray(offset, needed));
  if (!header.littleEndian && type.bytes > 1) swapBytes(voxels, type.bytes);
  const raw = type.make(voxels.buffer as ArrayBuffer);

  const view = new DataView(buffer);
  const le = header.littleEndian;
  const srows = [0, 1, 2].map((r) =>
    [0, 1, 2, 3].map((c) => (version === 1 ? view.getFloat32(280 + (r * 4 + c) * 4, le) : view.getFloat64(400 + (r * 4 + c) * 8, le))),
  );
  const pixdim = header.pixDims.map(Number);
  const affine = bestAffine(
    header.sform_code,
    srows,
    header.qform_code,
    {
      quaternBCD: [header.quatern_b, header.quatern_c, header.quatern_d],
      offset: [header.qoffset_x, header.qoffset_y, header.qoffset_z],
      zooms: [pixdim[1] ?? 1, pixdim[2] ?? 1, pixdim[3] ?? 1],
      qfac: pixdim[0] ?? 1,
    },
    shape,
  );
  const slope = header.scl_slope;
  return {
    source,
    version,
    shape,
    datatype: type.name,
    raw,
    // NIfTI: slope 0 means "not scaled"; nibabel also ignores a non-finite slope.
    scaling: slope !== 0 && Number.isFinite(slope) ? { slope, inter: Number.isFinite(header.scl_inter) ? header.scl_inter : 0 } : null,
    affine,
    qformCode: header.qform_code,
    sformCode: header.sform_code,
    pixdim: pixdim.slice(1, ndim + 1),
    xyztUnits: header.xyzt_units,
    description: header.description.replace(/\0.*$/s, ''),
  };
}

/** The spatial shape of a file that must be one 3-D volume (a 4th dimension of length 1 is allowed). */
export function spatialDims(file: NiftiFile): Vec3 {
  const [x = 1, y = 1, z = 1, ...rest] = file.shape;
  if (rest.some((n) => n !== 1)) {
    throw new TakError(`${file.source} has shape ${show(file.shape)}: a single 3-D volume is expected, not a time series or vector image; extract one volume first`);
  }
  return [x, y, z];
}

/** The file as a 3-D float32 volume with scl_slope/scl_inter applied. */
export function niftiToImage(file: NiftiFile): Volume<Float32Array> {
  const dims = spatialDims(file);
  const out = new Float32Array(file.raw.length);
  const { slope, inter } = file.scaling ?? { slope: 1, inter: 0 };
  const raw = file.raw;
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]! * slope + inter;
  return { dims, affine: file.affine, data: out };
}

/**
 * The file as a 3-D label map (uint8). Label files are often stored as float32 or int16 (DHC saves
 * float labels); every value must still be a whole number in 0..255.
 */
export function niftiToLabels(file: NiftiFile): Volume<Uint8Array> {
  const dims = spatialDims(file);
  const out = new Uint8Array(file.raw.length);
  const { slope, inter } = file.scaling ?? { slope: 1, inter: 0 };
  const raw = file.raw;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]! * slope + inter;
    const label = Math.round(v);
    if (!(Math.abs(v - label) < 1e-3 && label >= 0 && label <= 255)) {
      const [x, y, z] = unravel(i, dims);
      throw new TakError(`${file.source}: voxel (${x}, ${y}, ${z}) holds ${v}, not a label id in 0..255; is this an image rather than a label map?`);
    }
    out[i] = label;
  }
  return { dims, affine: file.affine, data: out };
}

function unravel(index: number, [nx, ny]: Vec3): Vec3 {
  return [index % nx, Math.floor(index / nx) % ny, Math.floor(index / (nx * ny))];
}

function isGzip(bytes: Uint8Array): boolean {
  // Both magic bytes: nifti-reader-js's isCompressed accepts either one (data-and-text.md §5d).
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function gunzipOrThrow(bytes: Uint8Array, source: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new TakError(`${source} looks gzipped but does not decompress (${(error as Error).message}); the file is damaged or incomplete`, { cause: error });
  }
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
