import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEmbeddings } from '../../src/knowledge/cache.js';
import { embedKnowledge } from '../../src/knowledge/embed.js';
import { readTorchTensor } from '../../src/knowledge/torch-tensor.js';
import { float32Archive, torchSaveArchive } from './support/torch-save.js';

const UPSTREAM = join(import.meta.dirname, '../../../shared/reference/tak-semi/amos_embedding_shape_location.pth');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'tak-torch-'));

function writeArchive(archive: Uint8Array): string {
  const file = join(tmp(), 'emb.pth');
  writeFileSync(file, archive);
  return file;
}

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('readTorchTensor on archives written by the test', () => {
  it('returns the exact bytes and shape of a float32 matrix', () => {
    const { archive, data } = float32Archive(6, 5, (i, j) => Math.fround(i * 0.1 - j * 3.7 + 1e-30 * i));
    const tensor = readTorchTensor(writeArchive(archive));
    expect(tensor.shape).toEqual([6, 5]);
    expect(Buffer.from(tensor.bytes).equals(Buffer.from(data.buffer))).toBe(true);
  });

  it('honours the storage offset of a view', () => {
    const storage = Float32Array.from({ length: 20 }, (_, i) => i + 0.5);
    const file = writeArchive(torchSaveArchive({ storage: new Uint8Array(storage.buffer), storageNumel: 20, offset: 8, size: [3, 4] }));
    const tensor = readTorchTensor(file);
    expect(Array.from(new Float32Array(tensor.bytes.slice().buffer))).toEqual(Array.from(storage.subarray(8, 20)));
  });

  it('refuses float64 and says how to convert', () => {
    const file = writeArchive(torchSaveArchive({ storageClass: 'DoubleStorage', storage: new Uint8Array(8 * 4), storageNumel: 4, size: [2, 2] }));
    expect(errorOf(() => readTorchTensor(file))).toMatch(/float64 tensor; text embeddings must be float32: save tensor\.float\(\)/);
  });

  it('refuses a transposed (non-contiguous) tensor', () => {
    const file = writeArchive(torchSaveArchive({ storage: new Uint8Array(4 * 6), storageNumel: 6, size: [2, 3], stride: [1, 2] }));
    expect(errorOf(() => readTorchTensor(file))).toMatch(/non-contiguous tensor \(size \[2, 3\], stride \[1, 2\]\); save tensor\.contiguous\(\)/);
  });

  it('detects a storage shorter than the pickle says', () => {
    const file = writeArchive(torchSaveArchive({ storage: new Uint8Array(4 * 5), storageNumel: 6, size: [2, 3] }));
    expect(errorOf(() => readTorchTensor(file))).toMatch(/has 20 bytes but the pickle expects 6 float32 values.*damaged/);
  });

  it('refuses big-endian archives and files that are not zips', () => {
    const big = writeArchive(torchSaveArchive({ storage: new Uint8Array(4), storageNumel: 1, size: [1], byteOrder: 'big' }));
    expect(errorOf(() => readTorchTensor(big))).toMatch(/big-endian/);
    const notZip = writeArchive(new TextEncoder().encode('not a zip at all'));
    expect(errorOf(() => readTorchTensor(notZip))).toMatch(/is not a torch\.save zip archive/);
  });

  it('embed refuses a tensor whose row count does not fit the dataset', async () => {
    const file = writeArchive(float32Archive(10, 8, () => 1).archive);
    await expect(embedKnowledge({ dataset: 'amos', encoder: { kind: 'pth', path: file }, prompt: 'position+shape', outDir: tmp() }))
      .rejects.toThrow(/shape \[10, 8\]; amos needs \[32, d\]/);
  });

  it('embed imports a synapse-sized archive bitwise and the trainer reads it back', async () => {
    const { archive, data } = float32Archive(28, 7, (i, j) => Math.sin(i * 7 + j));
    const dir = tmp();
    const result = await embedKnowledge({ dataset: 'synapse', encoder: { kind: 'pth', path: writeArchive(archive) }, prompt: 'position+shape', outDir: dir });
    expect(readFileSync(result.paths.data).equals(Buffer.from(data.buffer))).toBe(true);
    const loaded = loadEmbeddings('synapse', 'pth-emb', 'position+shape', { dir });
    expect(loaded.count).toBe(28);
    expect(loaded.dim).toBe(7);
    expect(Array.from(loaded.rows)).toEqual(Array.from(data));
    expect(loaded.meta.rows.every((r) => r.textSha256 === null)).toBe(true);
  });
});

describe.skipIf(!existsSync(UPSTREAM))('the upstream TAK-Semi AMOS embeddings', () => {
  it('reads as float32 [32, 512] with the known raw-byte hash', () => {
    const tensor = readTorchTensor(UPSTREAM);
    expect(tensor.shape).toEqual([32, 512]);
    expect(sha256(tensor.bytes).startsWith('be48e9a3a4fa0459')).toBe(true);
  });

  it('lands in the cache bitwise', async () => {
    const dir = tmp();
    const result = await embedKnowledge({ dataset: 'amos', encoder: { kind: 'pth', path: UPSTREAM }, prompt: 'position+shape', outDir: dir });
    expect(sha256(readFileSync(result.paths.data)).startsWith('be48e9a3a4fa0459')).toBe(true);
    const loaded = loadEmbeddings('amos', 'pth-amos_embedding_shape_location', 'position+shape', { dir });
    expect(loaded.meta.importedFrom?.sha256).toBe(sha256(readFileSync(UPSTREAM)));
  });
});
