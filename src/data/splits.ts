import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TakError, show } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { Rng } from '../util/random.js';

/**
 * Train/eval/test splits in the DHC/GA/TAK text format: one case id per line, in files
 * `labeled_{p}p.txt`, `unlabeled_{p}p.txt`, `eval.txt`, `test.txt` (method-spec §2; the AMOS lists
 * are byte-identical across the three repositories).
 */
export interface Split {
  labeled: string[];
  unlabeled: string[];
  eval: string[];
  test: string[];
}

export function readIdList(path: string): string[] {
  if (!existsSync(path)) throw new TakError(`split file ${path} does not exist`);
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

/**
 * Reads `labeled_{tag}.txt`, `unlabeled_{tag}.txt`, `eval.txt`, `test.txt` from `dir` (tag such as
 * "5p"; eval/test may be absent). Every id must be a known case and no id may be in two lists.
 */
export function readSplitFolder(dir: string, tag: string, knownIds: Iterable<string>): Split {
  const optional = (name: string): string[] => (existsSync(join(dir, name)) ? readIdList(join(dir, name)) : []);
  const split: Split = {
    labeled: readIdList(join(dir, `labeled_${tag}.txt`)),
    unlabeled: readIdList(join(dir, `unlabeled_${tag}.txt`)),
    eval: optional('eval.txt'),
    test: optional('test.txt'),
  };
  checkSplit(split, knownIds, dir);
  return split;
}

export function checkSplit(split: Split, knownIds: Iterable<string>, where: string): void {
  const known = new Set(knownIds);
  const owner = new Map<string, string>();
  for (const [list, ids] of Object.entries(split) as [string, string[]][]) {
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new TakError(`${where}: ${list} list names ${unknown.length} case(s) the dataset does not have: ${show(unknown)}; check the split belongs to this dataset`);
    }
    for (const id of ids) {
      const previous = owner.get(id);
      if (previous !== undefined) throw new TakError(`${where}: case ${show(id)} is in both the ${previous} and the ${list} list; splits must be disjoint`);
      owner.set(id, list);
    }
  }
  if (split.labeled.length === 0) throw new TakError(`${where}: the labeled list is empty; semi-supervised training needs at least one labelled case`);
}

/**
 * A reproducible split of `ids` (labelled cases only): `evalCount` cases for validation, then
 * ⌈labeledFraction · rest⌉ (at least 1) labelled and the remainder unlabelled, drawn with a seeded
 * permutation. Lists are sorted so the files diff cleanly.
 */
export function seededSplit(ids: readonly string[], options: { labeledFraction: number; evalCount: number; seed: number; test?: readonly string[] }): Split {
  const { labeledFraction, evalCount, seed } = options;
  if (!(labeledFraction > 0 && labeledFraction <= 1)) throw new TakError(`labelled fraction ${labeledFraction} must be in (0, 1]`);
  if (!(Number.isInteger(evalCount) && evalCount >= 0 && evalCount < ids.length)) {
    throw new TakError(`eval count ${evalCount} must be an integer in [0, ${ids.length - 1}] for ${ids.length} labelled cases`);
  }
  const sorted = [...ids].sort();
  const order = new Rng(seed).permutation(sorted.length);
  const shuffled = Array.from(order, (i) => sorted[i]!);
  const evalIds = shuffled.slice(0, evalCount);
  const rest = shuffled.slice(evalCount);
  const labeledCount = Math.max(1, Math.ceil(labeledFraction * rest.length));
  return {
    labeled: rest.slice(0, labeledCount).sort(),
    unlabeled: rest.slice(labeledCount).sort(),
    eval: evalIds.sort(),
    test: [...(options.test ?? [])].sort(),
  };
}

/** Writes a split as the four text files (tag e.g. "5p"). */
export function writeSplitFolder(dir: string, tag: string, split: Split): void {
  const lines = (ids: string[]): string => (ids.length ? `${ids.join('\n')}\n` : '');
  writeFileAtomic(join(dir, `labeled_${tag}.txt`), lines(split.labeled));
  writeFileAtomic(join(dir, `unlabeled_${tag}.txt`), lines(split.unlabeled));
  writeFileAtomic(join(dir, 'eval.txt'), lines(split.eval));
  writeFileAtomic(join(dir, 'test.txt'), lines(split.test));
}
