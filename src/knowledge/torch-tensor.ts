import { readTorchArchive, tensorBytes, TorchTensorRef } from '../nn/torch-load.js';
import { TakError, show } from '../util/errors.js';

/**
 * Reads one tensor saved with `torch.save(tensor, path)`, such as TAK-Semi's AMOS text embeddings
 * (`CLIP/amos_embedding_shape_location.pth`, data-and-text §1): float32, contiguous, returned
 * byte for byte so the embedding cache reproduces the upstream tensor exactly.
 */
export interface TorchTensor {
  shape: number[];
  /** The tensor's bytes exactly as stored, row-major; float32 little-endian. */
  bytes: Uint8Array;
}

export function readTorchTensor(file: string): TorchTensor {
  const archive = readTorchArchive(file);
  const root = archive.root;
  if (!(root instanceof TorchTensorRef)) {
    throw new TakError(`${file} does not hold a single tensor (found ${root === null ? 'None' : typeof root}); save it with torch.save(tensor, path)`);
  }
  if (root.dtype !== 'float32') {
    throw new TakError(`${file} holds a ${root.dtype} tensor; text embeddings must be float32: save tensor.float()`);
  }
  const contiguous = root.shape.map((_, axis) => root.shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  if (root.stride.some((s, axis) => root.shape[axis]! > 1 && s !== contiguous[axis])) {
    throw new TakError(`${file} holds a non-contiguous tensor (size ${show(root.shape)}, stride ${show(root.stride)}); save tensor.contiguous()`);
  }
  return { shape: [...root.shape], bytes: tensorBytes(archive, root) };
}
