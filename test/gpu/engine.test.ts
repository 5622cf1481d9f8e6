import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { engine } from '../../src/gpu/engine.js';
import { bucketSize } from '../../src/gpu/pool.js';
import { grid } from '../../src/gpu/grid.js';
import { useEngine } from '../support/engine.js';

useEngine();

describe('engine', () => {
  it('names the adapter and requests its limits', () => {
    const { summary, limits } = engine().gpu;
    expect(summary.description.length).toBeGreaterThan(0);
    expect(limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
  });

  it('poisons fresh buffers with NaN in tests, so unwritten outputs show', async () => {
    const t = T.Tensor.empty([5]);
    expect(Array.from(await t.toArray()).every(Number.isNaN)).toBe(true);
  });

  it('reports WGSL errors with the kernel file and line', async () => {
    const file = fileURLToPath(new URL('../fixtures/broken.wgsl', import.meta.url));
    const e = engine();
    const kernel = e.kernel({ file });
    const out = T.Tensor.empty([1]);
    e.dispatch(kernel, { y: out.buffer }, null, [1]);
    await expect(e.sync()).rejects.toThrow(/broken\.wgsl:6:\d+/);
  });

  it('refuses unknown specialisation constants and missing parameters by name', () => {
    expect(() => engine().kernel({ file: 'fill', types: { T: 'f32' }, constants: { NOPE: 1 } })).toThrow(/declares no "override NOPE"/);
    const kernel = engine().kernel({ file: 'fill', types: { T: 'f32' } });
    const out = T.Tensor.empty([4]);
    expect(() => engine().dispatch(kernel, { y: out.buffer }, { n: 4, start: 0 }, [1])).toThrow(/parameter "step" was not given/);
    expect(() => engine().dispatch(kernel, {}, { n: 4, start: 0, step: 1 }, [1])).toThrow(/storage binding "y" was not given/);
  });

  it('refuses bindings over maxStorageBufferBindingSize with the limit in the message', () => {
    const limit = engine().maxBindingBytes;
    const big = T.Tensor.empty([limit / 4 + 1024]);
    const kernel = engine().kernel({ file: 'fill', types: { T: 'f32' }, constants: { WG: 64 } });
    // Ops split such tensors into runs (test/train/binding-limit.test.ts); a raw dispatch is refused.
    expect(() => engine().dispatch(kernel, { y: big.binding }, { n: big.size, start: 0, step: 0 }, [1])).toThrow(
      new RegExp(`over this adapter's maxStorageBufferBindingSize of ${limit} bytes`),
    );
    big.dispose();
  });

  it('reuses pooled buffers: a steady loop allocates nothing new', async () => {
    const step = async () => {
      const s = T.scope(() => T.sum(T.exp(T.randn([64, 33]))));
      await s.item();
      s.dispose();
    };
    for (let i = 0; i < 2; i++) await step();
    const allocated = engine().stats().allocatedBytes;
    for (let i = 0; i < 5; i++) await step();
    expect(engine().stats().allocatedBytes).toBe(allocated);
  });

  it('grid splits large dispatches and buckets grow geometrically', () => {
    expect(grid(10)).toEqual([10, 1]);
    const [x, y] = grid(200_000);
    expect(x * y).toBeGreaterThanOrEqual(200_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(5000)).toBeGreaterThanOrEqual(5000);
    expect(bucketSize(5000) / 5000).toBeLessThan(1.2);
  });
});
