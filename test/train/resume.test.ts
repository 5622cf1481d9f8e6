import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readNifti } from '../../src/data/nifti-read.js';

// End to end through the CLI at a tiny size: an uninterrupted run, and a run killed with SIGKILL
// after its second checkpoint and resumed, must log the same losses for every iteration.
const cli = fileURLToPath(new URL('../../bin/tak-wgpu.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url)));
const root = mkdtempSync(join(tmpdir(), 'tak-resume-'));
const env = { ...process.env, TAK_WGPU_CACHE: join(root, 'cache') };
const TINY = [
  '--preset', 'cpu', '--patch', '32', '--filters', '4', '--epochs', '2', '--iters-per-epoch', '3',
  '--set', 'phantomShape=[48,48,32]', '--set', 'phantomCases=6', '--set', 'phantomValCases=1',
  '--set', 'checkpointEvery=1', '--set', 'blendFromIter=1', '--set', 'contrastStartEpoch=0', '--set', 'validateFrom=99',
];

function losses(run: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { iteration?: number; loss?: number };
    if (typeof e.iteration === 'number' && typeof e.loss === 'number') out.set(e.iteration, e.loss);
  }
  return out;
}

describe('kill -9 and --resume', () => {
  it.skipIf(!built)('continues to exactly the losses of an uninterrupted run', async () => {
    const straight = join(root, 'straight');
    const a = spawnSync(process.execPath, [cli, 'train', '--out', straight, ...TINY], { env, encoding: 'utf8', timeout: 900_000 });
    expect(a.status, a.stderr + a.stdout).toBe(0);
    const reference = losses(straight);
    expect(reference.size).toBe(6);

    const killed = join(root, 'killed');
    const child = spawn(process.execPath, [cli, 'train', '--out', killed, ...TINY], { env, stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const pointer = join(killed, 'checkpoints', 'latest.json');
        if (existsSync(pointer) && (JSON.parse(readFileSync(pointer, 'utf8')) as { iteration: number }).iteration >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 50);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run ended before it could be killed'));
      });
    });
    await new Promise((resolve) => child.on('close', resolve));
    const b = spawnSync(process.execPath, [cli, 'train', '--out', killed, '--resume', ...TINY], { env, encoding: 'utf8', timeout: 900_000 });
    expect(b.status, b.stderr + b.stdout).toBe(0);
    expect(b.stdout).toMatch(/resumed from .*iter-000000[2-5] at iteration [2-5]/);
    const resumed = losses(killed);
    expect([...resumed.entries()].sort((x, y) => x[0] - y[0])).toEqual([...reference.entries()].sort((x, y) => x[0] - y[0]));
  }, 1_800_000);

  // The finished run above serves the two output checks below.
  const straight = join(root, 'straight');
  const finished = () => existsSync(join(straight, 'report.html'));

  it.skipIf(!built)('predict writes label maps with the input geometry (nibabel agrees when present)', () => {
    if (!finished()) return expect.fail('the uninterrupted run did not finish');
    const phantom = join(root, 'cache', readdirSync(join(root, 'cache')).find((d) => d.startsWith('phantom-'))!);
    const input = join(root, 'predict-in');
    mkdirSync(input, { recursive: true });
    const image = readdirSync(join(phantom, 'imagesTr')).sort()[0]!;
    copyFileSync(join(phantom, 'imagesTr', image), join(input, image));
    const checkpoints = join(straight, 'checkpoints');
    const last = readdirSync(checkpoints).filter((d) => d.startsWith('iter-')).sort().pop()!;
    const output = join(root, 'predict-out');
    const run = spawnSync(process.execPath, [cli, 'predict', '-i', input, '-o', output, '--ckpt', join(checkpoints, last, 'student.safetensors')], { env, encoding: 'utf8', timeout: 600_000 });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const written = join(output, image.replace(/\.nii(\.gz)?$/, '.nii.gz'));
    const source = readNifti(join(input, image));
    const predicted = readNifti(written);
    expect(predicted.shape).toEqual(source.shape);
    predicted.affine.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(source.affine[i]![j]!, 5)));
    expect(predicted.datatype).toBe('uint8');
    const python = spawnSync('/usr/bin/python3', ['-c', [
      'import sys, nibabel as nib, numpy as np',
      'a, b = nib.load(sys.argv[1]), nib.load(sys.argv[2])',
      'assert a.shape == b.shape, (a.shape, b.shape)',
      'assert np.allclose(a.affine, b.affine, atol=1e-5), (a.affine, b.affine)',
      'assert b.get_data_dtype() == np.uint8, b.get_data_dtype()',
      'v = np.unique(np.asarray(b.dataobj)); assert v.min() >= 0 and v.max() <= 15, v',
      'print("nibabel ok")',
    ].join('\n'), join(input, image), written], { encoding: 'utf8' });
    if (python.error || /No module named/.test(python.stderr)) console.warn('nibabel check skipped: apt-get install python3-nibabel to run it');
    else expect(python.stdout + python.stderr).toContain('nibabel ok');
  }, 900_000);

  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  it.skipIf(!built || !chromium)('report.html renders offline in headless Chromium', () => {
    if (!finished()) return expect.fail('the uninterrupted run did not finish');
    const html = readFileSync(join(straight, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/);
    // The report is static HTML; a probe copy asks the browser, after load, whether every picture
    // decoded and how many charts it laid out, and writes the answer into the dumped DOM.
    const probe = join(straight, 'report-probe.html');
    writeFileSync(probe, html.replace('</body>', `<script>addEventListener('load', () => {
      const imgs = [...document.images];
      const charts = [...document.querySelectorAll('svg')].filter((s) => s.getBoundingClientRect().width > 100);
      document.body.dataset.probe = JSON.stringify({ images: imgs.length, decoded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length, charts: charts.length });
    });</script></body>`));
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--virtual-time-budget=5000', '--dump-dom', `file://${probe}`];
    const dom = spawnSync(chromium!, args, { encoding: 'utf8', timeout: 120_000 });
    expect(dom.status, dom.stderr).toBe(0);
    const found = /data-probe="([^"]+)"/.exec(dom.stdout);
    expect(found, 'the probe script did not run').not.toBeNull();
    const result = JSON.parse(found![1]!.replace(/&quot;/g, '"')) as { images: number; decoded: number; charts: number };
    expect(result.images).toBeGreaterThan(0); // overlay pictures of held-out cases
    expect(result.decoded).toBe(result.images);
    expect(result.charts).toBeGreaterThanOrEqual(2); // loss curves and the per-class Dice bars
  }, 300_000);
});
