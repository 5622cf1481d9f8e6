import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { NameRegistry, Parser } from 'pickleparser';
import { TakError, show } from '../util/errors.js';

/**
 * Reader of `torch.save` archives (PyTorch ≥ 1.6 zip format): `<name>/data.pkl` pickles the saved
 * object, with every tensor as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
 * and every storage as a persistent id ('storage', torch.<Type>Storage, key, location, numel)
 * whose raw little-endian bytes are the entry `<name>/data/<key>`. Used for TAK-Semi's cached text
 * embeddings (a single tensor) and for state_dicts of the reference implementation (--init-from).
 */

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGES: Record<string, { dtype: TorchDType; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

class StorageType {
  constructor(readonly name: string) {}
}

/** A tensor as pickled: where its elements are, before any copy. */
export class TorchTensorRef {
  constructor(
    readonly dtype: TorchDType,
    readonly elementBytes: number,
    readonly storageKey: string,
    readonly storageNumel: number,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export interface TorchArchive {
  file: string;
  /** The unpickled object: tensors are TorchTensorRef, dicts plain objects, lists arrays. */
  root: unknown;
  /** Storage bytes by key. */
  storages: Map<string, Uint8Array>;
}

export function readTorchArchive(file: string): TorchArchive {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(readFileSync(file));
  } catch (error) {
    throw new TakError(`${file} is not a torch.save zip archive (${(error as Error).message}); save it with torch.save from PyTorch 1.6 or newer`, { cause: error });
  }
  const pickles = Object.keys(entries).filter((name) => name.endsWith('/data.pkl'));
  if (pickles.length !== 1) throw new TakError(`${file} holds ${pickles.length} data.pkl entries, expected 1; is it a torch.save archive?`);
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteOrder = entries[`${prefix}byteorder`];
  if (byteOrder && new TextDecoder().decode(byteOrder).trim() !== 'little') {
    throw new TakError(`${file} was saved on a big-endian machine; re-save it on a little-endian one`);
  }
  const names = new NameRegistry();
  for (const name of Object.keys(STORAGES)) names.register('torch', name, new StorageType(name) as never);
  const rebuild = (storage: { type: StorageType; key: string; numel: number }, offset: number, size: number[], stride: number[]) => {
    const info = STORAGES[storage.type.name]!;
    return new TorchTensorRef(info.dtype, info.bytes, storage.key, storage.numel, offset, [...size], [...stride]);
  };
  names.register('torch._utils', '_rebuild_tensor_v2', rebuild as never);
  // nn.Parameter pickles as _rebuild_parameter(tensor, requires_grad, backward_hooks).
  names.register('torch._utils', '_rebuild_parameter', ((tensor: TorchTensorRef) => tensor) as never);
  names.register('collections', 'OrderedDict', (() => ({})) as never);
  const persistentResolver = {
    resolve(pid: unknown) {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof StorageType)) {
        throw new TakError(`${file}: unsupported persistent id ${show(pid)} in data.pkl`);
      }
      return { type: pid[1], key: String(pid[2]), numel: Number(pid[4]) };
    },
  };
  let root: unknown;
  try {
    root = new Parser({ nameResolver: names, persistentResolver: persistentResolver as never }).parse(entries[pickles[0]!]!);
  } catch (error) {
    if (error instanceof TakError) throw error;
    throw new TakError(`${file}: cannot unpickle data.pkl (${(error as Error).message}); it holds objects other than tensors, dicts, lists and numbers`, { cause: error });
  }
  const storages = new Map<string, Uint8Array>();
  for (const [name, bytes] of Object.entries(entries)) {
    if (name.startsWith(`${prefix}data/`)) storages.set(name.slice(`${prefix}data/`.length), bytes);
  }
  return { file, root, storages };
}

/** The contiguous bytes of a tensor (copying strided ones into row-major order). */
export function tensorBytes(archive: TorchArchive, t: TorchTensorRef): Uint8Array {
  const data = archive.storages.get(t.storageKey);
  if (!data) throw new TakError(`${archive.file} lacks the storage entry data/${t.storageKey}; the archive is damaged`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (data.byteLength !== t.storageNumel * t.elementBytes) {
    throw new TakError(`${archive.file}: storage ${t.storageKey} has ${data.byteLength} bytes but the pickle expects ${t.storageNumel} ${t.dtype} values; the archive is damaged`);
  }
  const contiguous = t.shape.map((_, axis) => t.shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  if (t.stride.every((s, axis) => t.shape[axis]! <= 1 || s === contiguous[axis])) {
    if (t.offset + count > t.storageNumel) throw new TakError(`${archive.file}: a tensor runs past its storage; the archive is damaged`);
    return data.slice(t.offset * t.elementBytes, (t.offset + count) * t.elementBytes);
  }
  const out = new Uint8Array(count * t.elementBytes);
  for (let e = 0; e < count; e++) {
    let rem = e;
    let src = t.offset;
    for (let axis = t.shape.length - 1; axis >= 0; axis--) {
      src += (rem % t.shape[axis]!) * t.stride[axis]!;
      rem = Math.floor(rem / t.shape[axis]!);
    }
    out.set(data.subarray(src * t.elementBytes, (src + 1) * t.elementBytes), e * t.elementBytes);
  }
  return out;
}

/** A tensor's values as float32 (float64/int are converted; half precision is refused). */
export function tensorAsFloat32(archive: TorchArchive, t: TorchTensorRef): Float32Array {
  const bytes = tensorBytes(archive, t);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (t.dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return Float32Array.from(new Float64Array(buffer));
    case 'int64':
      return Float32Array.from(new BigInt64Array(buffer), (v) => Number(v));
    case 'int32':
      return Float32Array.from(new Int32Array(buffer));
    default:
      throw new TakError(`${archive.file}: tensors of dtype ${t.dtype} are not supported; convert them with .float() before saving`);
  }
}

export interface StateDictEntry {
  shape: number[];
  dtype: TorchDType;
  values: Float32Array;
}

/**
 * A state_dict from a torch.save file: the dict itself, or one nested under "state_dict",
 * "model", "model_state_dict" or "net"; DataParallel's "module." prefix is removed.
 */
export function readTorchStateDict(file: string): Map<string, StateDictEntry> {
  const archive = readTorchArchive(file);
  const isTensorDict = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && Object.values(v).some((x) => x instanceof TorchTensorRef);
  let dict: unknown = archive.root;
  if (!isTensorDict(dict) && typeof dict === 'object' && dict !== null) {
    for (const key of ['state_dict', 'model', 'model_state_dict', 'net']) {
      const inner = (dict as Record<string, unknown>)[key];
      if (isTensorDict(inner)) {
        dict = inner;
        break;
      }
    }
  }
  if (!isTensorDict(dict)) throw new TakError(`${file} holds no state_dict (a dict of tensors); save model.state_dict() with torch.save`);
  const out = new Map<string, StateDictEntry>();
  for (const [rawKey, value] of Object.entries(dict)) {
    if (!(value instanceof TorchTensorRef)) continue; // `_metadata` and other non-tensor entries
    const key = rawKey.startsWith('module.') ? rawKey.slice('module.'.length) : rawKey;
    out.set(key, { shape: value.shape, dtype: value.dtype, values: tensorAsFloat32(archive, value) });
  }
  return out;
}
