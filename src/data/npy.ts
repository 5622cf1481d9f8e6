import { readFileSync } from 'node:fs';
import { TakError, show } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { VoxelArray } from './volume.js';
import { voxelCount } from './volume.js';

/**
 * NumPy `.npy` files (format 1.0–3.0), the on-disk form of DHC's and GA's preprocessed volumes
 * (`{id}_image.npy`, `{id}_label.npy`).
 */
export interface NpyArray {
  /** numpy shape, slowest axis first for C order */
  shape: number[];
  fortranOrder: boolean;
  /** numpy dtype string as stored, e.g. "<f4" */
  descr: string;
  data: VoxelArray;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type Kind = 'u1' | 'i1' | 'b1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8' | 'u8' | 'f4' | 'f8';
const WIDTH: Record<Kind, number> = { u1: 1, i1: 1, b1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8, f4: 4, f8: 8 };

export function readNpy(path: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new TakError(`cannot read .npy file ${path}: ${(error as Error).message}; check the path`, { cause: error });
  }
  return decodeNpy(bytes, path);
}

export function decodeNpy(bytes: Uint8Array, source: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new TakError(`${source} is not a NumPy .npy file (no \\x93NUMPY magic); pass a file written by numpy.save`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new TakError(`${source}: unreadable .npy header ${show(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const match = /^([<>|=])([a-z]\d)$/.exec(descr);
  const kind = match?.[2] as Kind | undefined;
  if (!match || !kind || !(kind in WIDTH)) {
    throw new TakError(`${source}: .npy dtype ${show(descr)} is not supported (use uint8/int8/int16/uint16/int32/uint32/int64/float32/float64)`);
  }
  const width = WIDTH[kind];
  const count = voxelCount(shape);
  const start = headerStart + headerLength;
  if (bytes.length < start + count * width) {
    throw new TakError(`${source} is truncated: shape ${show(shape)} of ${descr} needs ${count * width} data bytes, the file has ${bytes.length - start}; re-create it`);
  }
  const raw = new Uint8Array(count * width);
  raw.set(bytes.subarray(start, start + count * width));
  if (match[1] === '>' && width > 1) {
    for (let i = 0; i < raw.length; i += width) raw.subarray(i, i + width).reverse();
  }
  return { shape, fortranOrder: fortran === 'True', descr, data: typedArray(kind, raw.buffer) };
}

function typedArray(kind: Kind, buffer: ArrayBuffer): VoxelArray {
  switch (kind) {
    case 'u1':
    case 'b1':
      return new Uint8Array(buffer);
    case 'i1':
      return new Int8Array(buffer);
    case 'i2':
      return new Int16Array(buffer);
    case 'u2':
      return new Uint16Array(buffer);
    case 'i4':
      return new Int32Array(buffer);
    case 'u4':
      return new Uint32Array(buffer);
    case 'f4':
      return new Float32Array(buffer);
    case 'f8':
      return new Float64Array(buffer);
    case 'i8':
    case 'u8': {
      // Label arrays saved from int64 tensors: exact as doubles for any realistic label id.
      const wide = kind === 'i8' ? new BigInt64Array(buffer) : new BigUint64Array(buffer);
      return Float64Array.from(wide, (v) => Number(v));
    }
  }
}

const DESCR = new Map<string, string>([
  ['Uint8Array', '|u1'],
  ['Int8Array', '|i1'],
  ['Int16Array', '<i2'],
  ['Uint16Array', '<u2'],
  ['Int32Array', '<i4'],
  ['Uint32Array', '<u4'],
  ['Float32Array', '<f4'],
  ['Float64Array', '<f8'],
]);

/** Encodes a C-order array as .npy version 1.0 (header padded to a multiple of 64 bytes). */
export function encodeNpy(shape: number[], data: VoxelArray): Uint8Array {
  if (voxelCount(shape) !== data.length) throw new TakError(`cannot write .npy: ${data.length} values do not fill shape ${show(shape)}`);
  const descr = DESCR.get(data.constructor.name)!;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function writeNpy(path: string, shape: number[], data: VoxelArray): void {
  writeFileAtomic(path, encodeNpy(shape, data));
}
