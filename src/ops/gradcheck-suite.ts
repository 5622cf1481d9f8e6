import { gradcheck } from '../autograd/gradcheck.js';
import { asyncScope } from '../tensor/tensor.js';
import { manualSeed } from '../tensor/create.js';
import { TakError } from '../util/errors.js';
import { registeredOps, type OpEntry } from './registry.js';

export interface GradcheckRow {
  op: string;
  family: string;
  label: string;
  maxAbsError: number;
  maxRelError: number;
  pass: boolean;
}

/** Differentiable ops whose name (or family) matches `filter` (all when undefined). */
export function selectOps(filter?: string): OpEntry[] {
  const ops = registeredOps().filter((o) => o.differentiable);
  if (!filter) return ops;
  const wanted = filter.split(',').map((s) => s.trim().toLowerCase());
  const chosen = ops.filter((o) => wanted.some((w) => o.name.toLowerCase() === w || o.family.toLowerCase() === w));
  if (chosen.length === 0) {
    throw new TakError(`No differentiable op or family named ${JSON.stringify(filter)}; known: ${ops.map((o) => o.name).join(', ')}`);
  }
  return chosen;
}

/** Runs every gradient-check case of `ops`; the global generator is seeded per case from `seed`. */
export async function runGradchecks(ops: OpEntry[], seed = 0, onRow?: (row: GradcheckRow) => void): Promise<GradcheckRow[]> {
  const rows: GradcheckRow[] = [];
  let index = 0;
  for (const op of ops) {
    for (const c of op.cases) {
      manualSeed(seed * 100_003 + index++);
      const row = await asyncScope(async () => {
        const inputs = c.inputs();
        const report = await gradcheck(c.fn ?? op.fn, inputs, { wrt: c.wrt, eps: c.eps, atol: c.atol, rtol: c.rtol, seed: seed + 7 });
        return {
          op: op.name,
          family: op.family,
          label: c.label,
          maxAbsError: Math.max(0, ...report.inputs.map((r) => r.maxAbsError)),
          maxRelError: Math.max(0, ...report.inputs.map((r) => r.maxRelError)),
          pass: report.pass,
        };
      });
      rows.push(row);
      onRow?.(row);
    }
  }
  return rows;
}
