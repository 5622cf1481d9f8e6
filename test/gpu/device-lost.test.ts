import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { init, engine } from '../../src/gpu/engine.js';

describe('device loss', () => {
  it('turns a lost device into a clear error on the next op', async () => {
    await init();
    const x = T.ones([4]);
    engine().device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(() => T.add(x, x)).toThrow(/GPU device was lost \(destroyed/);
  });
});
