import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { NameRegistry, Parser } from 'pickleparser';
import { TakError, show } from '../util/errors.js';

/**
 * Reads one tensor saved with `torch.save(tensor, path)` (PyTorch ≥ 1.6 zip format): a zip whose
 * `<name>/data.pkl` pickles `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
 * with the storage as a persistent id ('storage', torch.FloatStorage, key, location, numel) and
 * the raw little-endian storage bytes in `<name>/data/<key>`. TAK-Semi ships its AMOS text
 * embeddings this way (`CLIP/amos_embedding_shape_location.pth`, data-and-text §1 "TAK-Semi / GA differences").
 */
export interface TorchTensor {
  shape: number[];
  /** The tensor's bytes exactly as stored, row-major; float32 little-endian. */
  bytes: Uint8Array;
}

/** Element sizes of the legacy storage classes torch pickles; only float32 is accepted. */
const STORAGE_DTYPES: Record<string, { dtype: string; bytes: number }> = {
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

interface StorageRef {
  type: StorageType;
  key: string;
  numel: number;
}

class RebuiltTensor {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

function parsePickle(pickle: Uint8Array, file: string): unknown {
  const names = new NameRegistry();
  for (const name of Object.keys(STORAGE_DTYPES)) names.register('torch', name, new StorageType(name) as never);
  names.register('torch._utils', '_rebuild_tensor_v2', (storage: StorageRef, offset: number, size: number[], stride: number[]) => new RebuiltTensor(storage, offset, size, stride));
  // backward_hooks is an empty OrderedDict in every saved tensor.
  names.register('collections', 'OrderedDict', () => ({}));
  const persistentResolver = {
    resolve(pid: unknown): StorageRef {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof StorageType)) {
        throw new TakError(`${file}: unsupported persistent id ${show(pid)} in data.pkl; save a plain tensor with torch.save(tensor, path)`);
      }
      return { type: pid[1], key: String(pid[2]), numel: Number(pid[4]) };
    },
  };
  try {
    return new Parser({ nameResolver: names, persistentResolver: persistentResolver as never }).parse(pickle);
  } catch (error) {
    if (error instanceof TakError) throw error;
    throw new TakError(`${file}: cannot unpickle data.pkl (${(error as Error).message}); save a plain tensor with torch.save(tensor, path)`, { cause: error });
  }
}

export function readTorchTensor(file: string): TorchTensor {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(readFileSync(file));
  } catch (error) {
    throw new TakError(`${file} is not a torch.save zip archive (${(error as Error).message}); save the tensor with torch.save(tensor, path) from PyTorch 1.6 or newer`, { cause: error });
  }
  const pickles = Object.keys(entries).filter((name) => name.endsWith('/data.pkl'));
  if (pickles.length !== 1) {
    throw new TakError(`${file} holds ${pickles.length} data.pkl entries, expected 1; is it a torch.save archive of one tensor?`);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteOrder = entries[`${prefix}byteorder`];
  if (byteOrder && new TextDecoder().decode(byteOrder).trim() !== 'little') {
    throw new TakError(`${file} was saved on a big-endian machine; re-save it on a little-endian one`);
  }
  const root = parsePickle(entries[pickles[0]!]!, file);
  if (!(root instanceof RebuiltTensor)) {
    throw new TakError(`${file} does not hold a single tensor (found ${root === null ? 'None' : typeof root}); save it with torch.save(tensor, path)`);
  }
  const { storage, offset, size, stride } = root;
  const dtype = STORAGE_DTYPES[storage.type.name]!;
  if (dtype.dtype !== 'float32') {
    throw new TakError(`${file} holds a ${dtype.dtype} tensor; text embeddings must be float32: save tensor.float()`);
  }
  const contiguous = size.map((_, axis) => size.slice(axis + 1).reduce((a, b) => a * b, 1));
  if (stride.some((s, axis) => size[axis]! > 1 && s !== contiguous[axis])) {
    throw new TakError(`${file} holds a non-contiguous tensor (size ${show(size)}, stride ${show(stride)}); save tensor.contiguous()`);
  }
  const count = size.reduce((a, b) => a * b, 1);
  const data = entries[`${prefix}data/${storage.key}`];
  if (!data) throw new TakError(`${file} lacks the storage entry ${prefix}data/${storage.key}; the archive is damaged`);
  if (data.byteLength !== storage.numel * dtype.bytes || offset + count > storage.numel) {
    throw new TakError(`${file}: storage ${storage.key} has ${data.byteLength} bytes but the pickle expects ${storage.numel} ${dtype.dtype} values (tensor of ${count} from offset ${offset}); the archive is damaged`);
  }
  return { shape: [...size], bytes: data.slice(offset * dtype.bytes, (offset + count) * dtype.bytes) };
}
