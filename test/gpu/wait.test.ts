import { describe, expect, it } from 'vitest';
import { settle } from '../../src/gpu/wait.js';

/**
 * A promise settled the way dawn.node settles mapAsync: a setImmediate loop polls until `ms` have
 * passed (Dawn's AsyncRunner calls ProcessEvents each turn while an operation is pending).
 */
function dawnLike<T>(ms: number, value: T, fail = false): Promise<T> {
  const start = performance.now();
  return new Promise<T>((resolve, reject) => {
    const tick = () => {
      if (performance.now() - start < ms) setImmediate(tick);
      else if (fail) reject(new Error('device lost'));
      else resolve(value);
    };
    setImmediate(tick);
  });
}

/** CPU time this process used while `fn` ran, as a share of the wall time. */
async function cpuShare(fn: () => Promise<unknown>): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const { user, system } = process.cpuUsage(cpu0);
  return (user + system) / 1000 / (performance.now() - t0);
}

describe('settle (waiting on Dawn without spinning)', () => {
  it('returns the value and passes rejections on', async () => {
    await expect(settle(dawnLike(20, 42), 1)).resolves.toBe(42);
    await expect(settle(dawnLike(20, 0, true), 1)).rejects.toThrow('device lost');
  });

  it('leaves the core to others while the poll loop runs: a plain await spins it', async () => {
    // Resource shares, not timings: the plain await keeps this thread busy for the whole wait,
    // settle blocks it between turns.
    const plain = await cpuShare(() => dawnLike(300, 0));
    const napping = await cpuShare(() => settle(dawnLike(300, 0), 1));
    expect(plain).toBeGreaterThan(0.7);
    expect(napping).toBeLessThan(plain / 3);
  });
});
