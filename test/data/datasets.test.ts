import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPreparedCase } from '../../src/data/cache.js';
import { detectLayout, findCase, indexDataset } from '../../src/data/datasets.js';
import { writeNifti } from '../../src/data/nifti-write.js';
import { writeNpy } from '../../src/data/npy.js';
import { phantomGrid } from '../../src/data/phantom/grid.js';
import { synthesizeCase } from '../../src/data/phantom/synth-case.js';
import { DEFAULT_PREPROCESS, prepareCase, readCaseBytes } from '../../src/data/preprocess.js';
import { checkSplit, readIdList, readSplitFolder, seededSplit, writeSplitFolder } from '../../src/data/splits.js';
import type { Affine } from '../../src/data/volume.js';
import { labelsOnSourceGrid } from '../../src/eval/prediction-io.js';
import { SMALL, smallPhantom } from './phantom-fixture.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'tak-ds-'));

describe('dataset layouts', () => {
  it('indexes an AMOS22 folder from dataset.json, with CT/MRI by id', () => {
    const index = indexDataset(smallPhantom('amos', 2));
    expect(index.layout).toBe('amos');
    expect(index.cases.map((c) => [c.id, c.modality, c.subset])).toEqual([['amos_0001', 'CT', 'train'], ['amos_0002', 'CT', 'train']]);
    expect(findCase(index, 'amos_0002').label).toMatch(/labelsTr\/amos_0002\.nii\.gz$/);
  });

  it('indexes Synapse RawData', () => {
    const index = indexDataset(smallPhantom('synapse', 2));
    expect(index.layout).toBe('synapse');
    expect(index.dataset).toBe('synapse');
    expect(index.cases.map((c) => c.id)).toEqual(['0001', '0002']);
  });

  it('indexes DHC .npy arrays and reads them as (Z, Y, X) C-order volumes', () => {
    const dir = tmp();
    const { image, label } = synthesizeCase(phantomGrid(SMALL), 3, 0, 'amos');
    const shape = [SMALL[2], SMALL[1], SMALL[0]];
    writeNpy(join(dir, 'amos_0507_image.npy'), shape, Float32Array.from(image));
    writeNpy(join(dir, 'amos_0507_label.npy'), shape, Float32Array.from(label)); // DHC saves float labels
    const index = indexDataset(dir);
    expect(index.layout).toBe('npy');
    expect(index.cases[0]!.modality).toBe('MRI'); // AMOS ids above 500 are MRI
    const prepared = prepareCase(index.cases[0]!, readCaseBytes(index.cases[0]!), 'amos', { window: 'none', reorient: true, resample: null });
    expect(prepared.dims).toEqual(SMALL);
    expect(Array.from(prepared.label!)).toEqual(Array.from(label));
  });

  it('names every missing file and the case it belongs to', () => {
    const dir = join(tmp(), 'amos');
    cpSync(smallPhantom('amos', 2), dir, { recursive: true });
    rmSync(join(dir, 'labelsTr', 'amos_0002.nii.gz'));
    expect(() => indexDataset(dir)).toThrow(/1 file\(s\) listed.*missing:\n  amos_0002: .*labelsTr\/amos_0002\.nii\.gz/s);
  });

  it('says what it expected in a folder of unknown layout', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'readme.txt'), 'x');
    expect(() => detectLayout(dir)).toThrow(/cannot tell the layout.*dataset\.json.*RawData.*_image\.npy/);
  });
});

describe('preprocessing', () => {
  it('reorients the stored LPS phantom back to the exact RAS+ arrays it was generated as', () => {
    const index = indexDataset(smallPhantom('amos', 2));
    const ref = findCase(index, 'amos_0002');
    const prepared = prepareCase(ref, readCaseBytes(ref), 'amos', { window: 'none', reorient: true, resample: null });
    const generated = synthesizeCase(phantomGrid(SMALL), 3, 1, 'amos');
    expect(Array.from(prepared.label!)).toEqual(Array.from(generated.label));
    expect(Array.from(prepared.image)).toEqual(Array.from(generated.image));
    expect(prepared.affine[0]![0]).toBeGreaterThan(0);
    expect(prepared.affine[1]![1]).toBeGreaterThan(0);
  });

  it("applies TAK's window ([−125, 275] → [0, 1]) and resamples to a fixed grid", () => {
    const ref = indexDataset(smallPhantom('amos', 2)).cases[0]!;
    const prepared = prepareCase(ref, readCaseBytes(ref), 'amos', { window: 'tak', reorient: true, resample: { shape: [32, 32, 16] } });
    expect(prepared.dims).toEqual([32, 32, 16]);
    expect(Math.min(...prepared.image)).toBe(0);
    expect(Math.max(...prepared.image)).toBe(1);
    expect(prepared.label!.length).toBe(32 * 32 * 16);
  });

  it('caches by content: a second load is a hit, a changed option or file is a miss', () => {
    const dir = join(tmp(), 'amos');
    cpSync(smallPhantom('amos', 2), dir, { recursive: true });
    const cache = tmp();
    const ref = indexDataset(dir).cases[0]!;
    const stats = { hits: 0, misses: 0 };
    const first = loadPreparedCase(ref, 'amos', DEFAULT_PREPROCESS, cache, stats);
    const second = loadPreparedCase(ref, 'amos', DEFAULT_PREPROCESS, cache, stats);
    expect(stats).toEqual({ hits: 1, misses: 1 });
    expect(Array.from(second.image)).toEqual(Array.from(first.image));
    expect(second.source).toEqual(first.source);
    loadPreparedCase(ref, 'amos', { ...DEFAULT_PREPROCESS, window: 'dhc' }, cache, stats);
    expect(stats.misses).toBe(2);
    const other = indexDataset(dir).cases[1]!;
    cpSync(other.label!, ref.label!); // the label file changes content
    expect(() => loadPreparedCase(ref, 'amos', DEFAULT_PREPROCESS, cache, stats)).not.toThrow();
    expect(stats.misses).toBe(3);
    expect(readdirSync(cache).filter((f) => f.endsWith('.json'))).toHaveLength(3);
  });

  it('maps a prediction on the prepared grid back onto the file grid and affine', () => {
    const ref = indexDataset(smallPhantom('amos', 2)).cases[1]!;
    const prepared = prepareCase(ref, readCaseBytes(ref), 'amos', { window: 'tak', reorient: true, resample: { shape: [96, 96, 64] } });
    const back = labelsOnSourceGrid(prepared, prepared.label!);
    const stored = readCaseBytes(ref);
    const original = prepareCase(ref, stored, 'amos', { window: 'none', reorient: false, resample: null });
    expect(back.dims).toEqual(original.dims);
    expect(back.affine).toEqual(original.affine);
    expect(Array.from(back.data)).toEqual(Array.from(original.label!)); // exact 2× up and down again
  });
});

describe('validation on load', () => {
  const affine: Affine = [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]];
  function makeCase(image: Float32Array, label: Uint8Array, labelAffine: Affine = affine, labelDims: [number, number, number] = [4, 4, 4]) {
    const dir = tmp();
    writeNifti(join(dir, 'img.nii.gz'), { dims: [4, 4, 4], affine, data: image });
    writeNifti(join(dir, 'lab.nii.gz'), { dims: labelDims, affine: labelAffine, data: label });
    const ref = { id: 'case_7', image: join(dir, 'img.nii.gz'), label: join(dir, 'lab.nii.gz'), format: 'nifti' as const, modality: 'CT' as const, subset: 'train' as const };
    return () => prepareCase(ref, readCaseBytes(ref), 'synapse', DEFAULT_PREPROCESS);
  }
  const good = new Uint8Array(64).fill(1);
  const image = new Float32Array(64).fill(40);

  it('accepts a good case', () => expect(() => makeCase(image, good)()).not.toThrow());
  it('names a shape mismatch', () => expect(makeCase(image, new Uint8Array(32).fill(1), affine, [4, 4, 2])).toThrow(/case case_7: image is 4×4×4 but its label map is 4×4×2/));
  it('names an affine mismatch', () => expect(makeCase(image, good, [[-1, 0, 0, 5], [0, -1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])).toThrow(/case case_7: image and label affines differ by up to 5\.0000 mm/));
  it('names a NaN voxel', () => {
    const bad = image.slice();
    bad[5] = NaN;
    expect(makeCase(bad, good)).toThrow(/case case_7: image voxel \(1, 1, 0\) is NaN/);
  });
  it('names label ids out of range for the dataset', () => {
    const bad = good.slice();
    bad[9] = 15; // an AMOS id in a Synapse case
    expect(makeCase(image, bad)).toThrow(/case case_7: label ids \[15\] are out of range for synapse \(0\.\.13\)/);
  });
  it('names an empty label map', () => expect(makeCase(image, new Uint8Array(64))).toThrow(/case case_7: the label map is empty/));
});

describe('splits', () => {
  const ids = Array.from({ length: 30 }, (_, i) => `amos_${String(i + 1).padStart(4, '0')}`);

  it('draws a reproducible, disjoint seeded split', () => {
    const a = seededSplit(ids, { labeledFraction: 0.1, evalCount: 4, seed: 5 });
    expect(seededSplit(ids, { labeledFraction: 0.1, evalCount: 4, seed: 5 })).toEqual(a);
    expect(a.labeled).toHaveLength(3);
    expect(a.eval).toHaveLength(4);
    expect(new Set([...a.labeled, ...a.unlabeled, ...a.eval]).size).toBe(30);
    expect(seededSplit(ids, { labeledFraction: 0.1, evalCount: 4, seed: 6 })).not.toEqual(a);
  });

  it('writes and reads the DHC/TAK text format', () => {
    const dir = tmp();
    const split = seededSplit(ids, { labeledFraction: 0.2, evalCount: 3, seed: 1, test: ['amos_0030'] });
    split.unlabeled = split.unlabeled.filter((id) => id !== 'amos_0030');
    writeSplitFolder(dir, '20p', split);
    expect(readSplitFolder(dir, '20p', ids)).toEqual(split);
  });

  it('refuses overlapping lists and unknown ids, naming them', () => {
    expect(() => checkSplit({ labeled: ['amos_0001'], unlabeled: ['amos_0001'], eval: [], test: [] }, ids, 'x')).toThrow(/case "amos_0001" is in both the labeled and the unlabeled list/);
    expect(() => checkSplit({ labeled: ['amos_0999'], unlabeled: [], eval: [], test: [] }, ids, 'x')).toThrow(/labeled list names 1 case\(s\) the dataset does not have: \["amos_0999"\]/);
  });

  const shared = '../shared/reference/tak-semi/data/amos_splits';
  it.skipIf(!existsSync(shared))("reads upstream's AMOS split files (5 %: 10 labelled / 206 unlabelled)", () => {
    const all = ['train', 'eval', 'test'].flatMap((n) => readIdList(join(shared, `${n}.txt`)));
    const split = readSplitFolder(shared, '5p', all);
    expect([split.labeled.length, split.unlabeled.length, split.eval.length, split.test.length]).toEqual([10, 206, 24, 120]);
  });
});
