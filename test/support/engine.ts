import { afterAll, beforeAll } from 'vitest';
import { init, shutdown, engine } from '../../src/gpu/engine.js';
import '../../src/ops/index.js';

/**
 * Starts the engine for a test file with every fresh buffer poisoned with NaN (so an element an op
 * forgets to write shows up as NaN) and validation errors surfaced at each readback.
 */
export function useEngine(): void {
  beforeAll(async () => {
    await init({ poison: true });
  });
  afterAll(async () => {
    await shutdown();
  });
}

export function liveBuffers(): number {
  return engine().stats().liveBuffers;
}
