import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// dawn.node crashed natively (SIGSEGV in DeviceBase::APITick, futex EINVAL, mutex assertions) when
// its GPU object was garbage-collected while the device lived; optimised JS on the device's thread
// made that likely. The engine now holds every GPU object (src/gpu/device.ts). This test drives
// the engine under the same conditions as the repro, plus forced GCs, 20 times in a row.
const script = fileURLToPath(new URL('../fixtures/busy-engine.mjs', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../../dist/src/index.js', import.meta.url)));

describe('immunity to the lavapipe busy-thread crash', () => {
  it.skipIf(!built)('survives 20 runs of busy JS + forced GC + memory-heavy dispatches', () => {
    const outcomes: string[] = [];
    for (let run = 0; run < 20; run++) {
      const r = spawnSync(process.execPath, ['--expose-gc', script, '200'], { encoding: 'utf8', timeout: 120_000 });
      outcomes.push(r.status === 0 && /^ok /m.test(r.stdout) ? 'ok' : `run ${run}: status ${r.status} signal ${r.signal} ${r.stderr.slice(-300)}`);
    }
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
  }, 900_000);
});
