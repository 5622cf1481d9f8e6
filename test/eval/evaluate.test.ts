import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { niftiToLabels, readNifti } from '../../src/data/nifti-read.js';
import { writeNifti } from '../../src/data/nifti-write.js';
import { evaluateFolders } from '../../src/eval/evaluate.js';
import { writeEvaluation } from '../../src/eval/report.js';
import { smallPhantom } from '../data/phantom-fixture.js';

describe('folder evaluation', () => {
  const gt = join(smallPhantom('amos', 2), 'labelsTr');

  it('scores identical folders as Dice 1 / ASD 0 for every class (the done-when check)', () => {
    const e = evaluateFolders({ pred: gt, gt, dataset: 'amos', resize: null });
    expect(e.cases.map((c) => c.id)).toEqual(['amos_0001', 'amos_0002']);
    for (const m of Object.values(e.summary.classes)) expect([m.dice, m.asd]).toEqual([1, 0]);
    expect(e.summary.groups.all.dice).toBe(1);
  });

  it('scores a missed organ 0 / 128, keeps the others, and writes CSV, JSON and Markdown', () => {
    const pred = mkdtempSync(join(tmpdir(), 'tak-pred-'));
    cpSync(gt, pred, { recursive: true });
    const file = join(pred, 'amos_0001.nii.gz');
    const labels = niftiToLabels(readNifti(file));
    labels.data.forEach((v, i) => (labels.data[i] = v === 3 ? 0 : v)); // drop the left kidney
    writeNifti(file, labels);
    const e = evaluateFolders({ pred, gt, dataset: 'amos', resize: [24, 24, 16] });
    const lk = e.cases[0]!.metrics.left_kidney!;
    expect([lk.dice, lk.asd, lk.assdMm]).toEqual([0, 128, null]);
    expect(e.cases[1]!.metrics.left_kidney!.dice).toBe(1);
    expect(e.summary.classes.left_kidney!.asd).toBe(64);
    expect(e.summary.groups.large.dice).toBeCloseTo((5 + 0.5) / 6, 12); // LK is one of the six large organs
    const out = mkdtempSync(join(tmpdir(), 'tak-eval-'));
    const paths = writeEvaluation(out, e);
    expect(readFileSync(paths.csv, 'utf8')).toMatch(/^case,class,dice,asd_voxels,assd_mm,hd95_mm,pred_voxels,gt_voxels\namos_0001,spleen,1\.000000,0\.000000/);
    expect(readFileSync(paths.csv, 'utf8')).toContain('amos_0001,left_kidney,0.000000,128.000000,,,0,');
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).summary.classes.left_kidney.dice).toBe(0.5);
    expect(readFileSync(paths.markdown, 'utf8')).toContain('| LK left kidney | 50.00 | 64.00 |');
  });

  it('names ground-truth cases without a prediction', () => {
    const pred = mkdtempSync(join(tmpdir(), 'tak-pred-'));
    cpSync(gt, pred, { recursive: true });
    rmSync(join(pred, 'amos_0002.nii.gz'));
    expect(existsSync(join(pred, 'amos_0001.nii.gz'))).toBe(true);
    expect(() => evaluateFolders({ pred, gt, dataset: 'amos', resize: null })).toThrow(/1 ground-truth case\(s\) have no prediction in .*: \["amos_0002"\]/);
  });
});
