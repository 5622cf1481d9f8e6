import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TakError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { type DatasetId, datasetClasses } from './datasets.js';
import { DEFAULT_ENCODER_ID } from './encoders/use-lite.js';
import { loadKnowledge } from './knowledge-file.js';
import { embeddingsDir } from './paths.js';
import { type PromptRow, type PromptVariant, type TextKind, promptHalves, promptRows } from './prompts.js';

/**
 * The embedding cache: knowledge/embeddings/<dataset>.<encoder>.<prompt>.f32 (raw little-endian
 * float32, [2C, dim] row-major, rows [half0_0..C−1, half1_0..C−1], see prompts.ts) and a .json
 * beside it. The trainer reads only this, never an encoder (method-spec §5: TAK too loads a cached
 * tensor). Each row records the sha256 of the text it encodes, so a cache whose texts have since
 * changed in the knowledge file is refused instead of silently used.
 */
export const EMBEDDINGS_FORMAT = 'tak-wgpu-embeddings/1';

export interface EmbeddingRowMeta {
  classId: number;
  kind: TextKind;
  /** sha256 of the UTF-8 text; null for imported rows whose texts are unknown (pth:). */
  textSha256: string | null;
}

export interface EmbeddingMeta {
  format: typeof EMBEDDINGS_FORMAT;
  dataset: DatasetId;
  prompt: PromptVariant;
  encoder: { id: string; spec: string; description: string };
  /** For imported tensors: the file and its sha256. */
  importedFrom?: { file: string; sha256: string };
  count: number;
  dim: number;
  dtype: 'float32';
  byteOrder: 'little';
  halves: [TextKind, TextKind];
  rows: EmbeddingRowMeta[];
  dataSha256: string;
}

export interface Embeddings {
  /** [count, dim] row-major. */
  rows: Float32Array;
  count: number;
  dim: number;
  meta: EmbeddingMeta;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

export function textSha256(text: string): string {
  return sha256(text);
}

export function cachePaths(dataset: DatasetId, encoderId: string, prompt: PromptVariant, dir = embeddingsDir()): { data: string; meta: string } {
  const stem = join(dir, `${dataset}.${encoderId === 'default' ? DEFAULT_ENCODER_ID : encoderId}.${prompt}`);
  return { data: `${stem}.f32`, meta: `${stem}.json` };
}

export interface CacheEntry {
  dataset: DatasetId;
  prompt: PromptVariant;
  encoder: { id: string; spec: string; description: string };
  /** The texts behind the rows, or null when the rows were imported without texts. */
  texts: PromptRow[] | null;
  importedFrom?: { file: string; sha256: string };
  /** Little-endian float32 bytes, [count, dim]. */
  bytes: Uint8Array;
  count: number;
  dim: number;
}

/** Writes the .f32 then the .json, each atomically; returns both paths. */
export function writeEmbeddingCache(entry: CacheEntry, dir = embeddingsDir()): { data: string; meta: string } {
  const classes = datasetClasses(entry.dataset);
  const halves = promptHalves(entry.prompt);
  if (entry.count !== 2 * classes.length || entry.bytes.byteLength !== entry.count * entry.dim * 4) {
    throw new TakError(`embeddings for ${entry.dataset} must be [${2 * classes.length}, d] float32; got ${entry.count} rows of ${entry.dim} in ${entry.bytes.byteLength} bytes`);
  }
  const rows: EmbeddingRowMeta[] = Array.from({ length: entry.count }, (_, i) => ({
    classId: classes[i % classes.length]!.id,
    kind: halves[Math.floor(i / classes.length)]!,
    textSha256: entry.texts ? textSha256(entry.texts[i]!.text) : null,
  }));
  const meta: EmbeddingMeta = {
    format: EMBEDDINGS_FORMAT,
    dataset: entry.dataset,
    prompt: entry.prompt,
    encoder: entry.encoder,
    ...(entry.importedFrom ? { importedFrom: entry.importedFrom } : {}),
    count: entry.count,
    dim: entry.dim,
    dtype: 'float32',
    byteOrder: 'little',
    halves,
    rows,
    dataSha256: sha256(entry.bytes),
  };
  const paths = cachePaths(entry.dataset, entry.encoder.id, entry.prompt, dir);
  writeFileAtomic(paths.data, entry.bytes);
  writeFileAtomic(paths.meta, `${JSON.stringify(meta, null, 2)}\n`);
  return paths;
}

function rebuildHint(dataset: DatasetId, prompt: PromptVariant, encoderSpec: string): string {
  return `tak-wgpu knowledge embed --dataset ${dataset} --encoder ${encoderSpec} --prompt ${prompt}`;
}

/** Rows whose recorded text hash differs from the knowledge file's current text. */
function staleRows(meta: EmbeddingMeta, knowledgePath?: string): string[] {
  const current = promptRows(loadKnowledge(meta.dataset, knowledgePath), meta.prompt);
  const classes = datasetClasses(meta.dataset);
  const stale = meta.rows.flatMap((row, i) =>
    row.textSha256 !== null && row.textSha256 !== textSha256(current[i]!.text) ? [`${classes[row.classId]!.name} ${row.kind}`] : [],
  );
  // Single-text variants hold each text twice; name it once.
  return [...new Set(stale)];
}

/**
 * What the trainer calls: the [2C, dim] text embeddings of `dataset` from encoder `encoderId`
 * (`default` = the offline default) for `prompt`. Refuses missing, damaged or stale caches with
 * the command that rebuilds them.
 */
export function loadEmbeddings(
  dataset: DatasetId,
  encoderId: string,
  prompt: PromptVariant,
  options: { dir?: string; knowledgePath?: string } = {},
): Embeddings {
  const paths = cachePaths(dataset, encoderId, prompt, options.dir);
  if (!existsSync(paths.meta) || !existsSync(paths.data)) {
    const spec = encoderId === 'default' || encoderId === DEFAULT_ENCODER_ID ? 'default' : 'onnx:MODEL.onnx|pth:FILE.pth';
    throw new TakError(`no embedding cache ${paths.data} (+ .json); create it with \`tak-wgpu knowledge embed --dataset ${dataset} --encoder ${spec} --prompt ${prompt}\``);
  }
  const meta = JSON.parse(readFileSync(paths.meta, 'utf8')) as EmbeddingMeta;
  if (meta.format !== EMBEDDINGS_FORMAT || meta.dataset !== dataset || meta.prompt !== prompt) {
    throw new TakError(`${paths.meta} is not a ${EMBEDDINGS_FORMAT} cache of ${dataset}/${prompt}; rebuild it with \`${rebuildHint(dataset, prompt, meta.encoder?.spec ?? 'ENCODER')}\``);
  }
  const bytes = readFileSync(paths.data);
  const classes = datasetClasses(dataset);
  if (meta.count !== 2 * classes.length || bytes.byteLength !== meta.count * meta.dim * 4 || sha256(bytes) !== meta.dataSha256) {
    throw new TakError(`${paths.data} does not match its metadata (${bytes.byteLength} bytes, expected ${meta.count} × ${meta.dim} float32 with the recorded sha256); the cache is damaged or half-written: rebuild it with \`${rebuildHint(dataset, prompt, meta.encoder.spec)}\``);
  }
  const stale = staleRows(meta, options.knowledgePath);
  if (stale.length > 0) {
    throw new TakError(`${paths.data} is stale: the knowledge texts of ${stale.join(', ')} changed after it was computed; rebuild it with \`${rebuildHint(dataset, prompt, meta.encoder.spec)}\``);
  }
  // Copy into an aligned buffer: Node's Buffer may sit at an odd offset in a shared pool.
  const rows = new Float32Array(new Uint8Array(bytes).buffer);
  return { rows, count: meta.count, dim: meta.dim, meta };
}
