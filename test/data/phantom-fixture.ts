import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetKind } from '../../src/data/classes.js';
import { writePhantomDataset } from '../../src/data/phantom/write-dataset.js';
import type { Vec3 } from '../../src/data/volume.js';

/** Small phantom datasets written once per test file (a 48×48×32 case takes a fraction of a second). */
export const SMALL: Vec3 = [48, 48, 32];
const made = new Map<string, string>();

export function smallPhantom(layout: DatasetKind, cases: number, seed = 3, dims: Vec3 = SMALL): string {
  const key = `${layout}-${cases}-${seed}-${dims.join('x')}`;
  let dir = made.get(key);
  if (!dir) {
    dir = join(mkdtempSync(join(tmpdir(), 'tak-phantom-')), key);
    writePhantomDataset({ out: dir, cases, validationCases: 0, seed, dims, layout, overwrite: false });
    made.set(key, dir);
  }
  return dir;
}
