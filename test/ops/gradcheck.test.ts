import { describe, expect, it } from 'vitest';
import '../../src/ops/all.js';
import { registeredOps } from '../../src/ops/registry.js';
import { runGradchecks } from '../../src/ops/gradcheck-suite.js';
import { useEngine } from '../support/engine.js';

useEngine();

// Every differentiable op in the registry, case by case: the same check as `tak-wgpu gradcheck`.
describe('gradients match central differences', () => {
  const families = [...new Set(registeredOps().filter((o) => o.differentiable).map((o) => o.family))];
  for (const family of families) {
    it(family, async () => {
      const ops = registeredOps().filter((o) => o.differentiable && o.family === family);
      const rows = await runGradchecks(ops, 1);
      const failed = rows.filter((r) => !r.pass).map((r) => `${r.op} (${r.label}): abs ${r.maxAbsError}`);
      expect(failed).toEqual([]);
    });
  }

  it('registers at least 25 differentiable ops', () => {
    expect(registeredOps().filter((o) => o.differentiable).length).toBeGreaterThanOrEqual(25);
  });
});
