import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TakError } from '../util/errors.js';

let cachedRoot: string | undefined;

/**
 * The tak-wgpu package folder. Found by walking up from this module, because the same code runs
 * from src/ (tests) and from dist/src/ (the CLI), at different depths.
 */
export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tak-wgpu') {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new TakError(`cannot find the tak-wgpu package folder above ${fileURLToPath(import.meta.url)}: reinstall tak-wgpu`);
    dir = parent;
  }
}

/** knowledge/ in the package: the curated knowledge files. */
export function knowledgeDir(): string {
  return join(projectRoot(), 'knowledge');
}

/** knowledge/embeddings/ in the package: the embedding caches the trainer reads. */
export function embeddingsDir(): string {
  return join(knowledgeDir(), 'embeddings');
}
