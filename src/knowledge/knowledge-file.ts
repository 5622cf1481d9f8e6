import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TakError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { DatasetId } from './datasets.js';
import { knowledgeDir } from './paths.js';
import { type KnowledgeFile, validateKnowledge } from './schema.js';

/** knowledge/<dataset>.json in the package. */
export function defaultKnowledgePath(dataset: DatasetId): string {
  return join(knowledgeDir(), `${dataset}.json`);
}

/** Reads and validates a knowledge file; `path` defaults to the package's file for `dataset`. */
export function loadKnowledge(dataset: DatasetId, path = defaultKnowledgePath(dataset)): KnowledgeFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TakError(`cannot read the knowledge file ${path}: ${(error as Error).message}; pass an existing file or run \`tak-wgpu knowledge generate --dataset ${dataset}\``, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TakError(`${path} is not valid JSON (${(error as Error).message}); fix the syntax`, { cause: error });
  }
  const knowledge = validateKnowledge(parsed, path);
  if (knowledge.dataset !== dataset) {
    throw new TakError(`${path} describes dataset "${knowledge.dataset}", not "${dataset}": pass the file for ${dataset}`);
  }
  return knowledge;
}

/** Validates and writes a knowledge file atomically (two-space JSON, trailing newline). */
export function saveKnowledge(path: string, knowledge: KnowledgeFile): void {
  validateKnowledge(knowledge, path);
  writeFileAtomic(path, `${JSON.stringify(knowledge, null, 2)}\n`);
}
