import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writePhantomDataset } from '../../src/data/phantom/write-dataset.js';
import { atlasViews } from '../../src/knowledge/generator/atlas.js';

describe('atlas views for agent 2 (--data)', () => {
  it('renders three 3-D label views and a coronal slice per sampled labelled case, deterministically', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tak-atlas-')), 'ph');
    writePhantomDataset({ out, cases: 3, validationCases: 0, seed: 4, dims: [48, 48, 32], layout: 'amos', overwrite: false });
    const views = atlasViews(out, 'amos', 2, 9);
    expect(views).toHaveLength(8);
    for (const v of views) expect(v.png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(views.map((v) => v.caption).filter((c) => /seen from the (anterior|left|superior) side/.test(c))).toHaveLength(6);
    expect(atlasViews(out, 'amos', 2, 9).map((v) => v.caption)).toEqual(views.map((v) => v.caption));
    expect(() => atlasViews(join(out, 'imagesTr'), 'amos', 1, 1)).toThrow();
  });
});
