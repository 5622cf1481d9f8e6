import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
});
