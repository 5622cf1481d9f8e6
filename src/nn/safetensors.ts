import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/fs.js';
import { TakError } from '../util/errors.js';

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor bytes. Readable by
 * `safetensors.torch.load_file` in Python, so checkpoints move between tak-wgpu and PyTorch.
 */
export type SafeDType = 'F32' | 'I32' | 'U32' | 'I64' | 'F64' | 'U8';

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array | Uint32Array | Uint8Array | Float64Array | BigInt64Array;
}

const BYTES: Record<SafeDType, number> = { F32: 4, I32: 4, U32: 4, I64: 8, F64: 8, U8: 1 };

export function encodeSafetensors(tensors: [string, SafeTensor][], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.byteLength;
    const expected = t.shape.reduce((p, d) => p * d, 1) * BYTES[t.dtype];
    if (bytes !== expected) throw new TakError(`safetensors: "${name}" has ${bytes} bytes for shape [${t.shape}] ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: [string, SafeTensor][], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new TakError(`${source} is too short to be a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) throw new TakError(`${source}: header length ${headerLength} exceeds the file; it is truncated or not safetensors`);
  let header: Record<string, { dtype: SafeDType; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new TakError(`${source}: the safetensors header is not valid JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: SafeDType; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new TakError(`${source}: tensor "${name}" has dtype ${dtype}; tak-wgpu reads ${Object.keys(BYTES).join(', ')}`);
    if (dataStart + end > bytes.byteLength || begin > end) throw new TakError(`${source}: tensor "${name}" lies outside the file; it is truncated`);
    const slice = bytes.slice(dataStart + begin, dataStart + end);
    const Typed = { F32: Float32Array, I32: Int32Array, U32: Uint32Array, I64: BigInt64Array, F64: Float64Array, U8: Uint8Array }[dtype];
    tensors.set(name, { dtype, shape, data: new Typed(slice.buffer, 0, (end - begin) / BYTES[dtype]) });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new TakError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
