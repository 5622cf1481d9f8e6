import type { CommandModule } from 'yargs';
import { init, shutdown } from '../../gpu/engine.js';
import { runGradchecks, selectOps, type GradcheckRow } from '../../ops/gradcheck-suite.js';
import '../../ops/index.js';
import '../../ops/all.js';

interface GradcheckArgs {
  adapter?: string;
  backend?: string;
  op?: string;
  seed: number;
  json?: boolean;
}

function line(row: GradcheckRow): string {
  const name = `${row.op} (${row.label})`;
  return `${name.slice(0, 58).padEnd(60)}${row.maxAbsError.toExponential(2).padStart(12)}${row.maxRelError.toExponential(2).padStart(12)}  ${row.pass ? 'PASS' : 'FAIL'}`;
}

export const gradcheckCommand: CommandModule<object, GradcheckArgs> = {
  command: 'gradcheck',
  describe: 'check every differentiable op\'s gradient against central finite differences on the GPU',
  builder: (y) =>
    y
      .option('op', { type: 'string', describe: 'only these ops or families (comma-separated), e.g. conv3d or elementwise' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random inputs and cotangents' })
      .option('json', { type: 'boolean', describe: 'print one JSON array instead of the table' }) as never,
  handler: async (args) => {
    const engine = await init({ adapter: args.adapter, backend: args.backend });
    const ops = selectOps(args.op);
    if (!args.json) {
      process.stdout.write(`Gradient check on ${engine.gpu.summary.description}: ${ops.length} ops\n`);
      process.stdout.write(`${'op (case)'.padEnd(60)}${'max abs err'.padStart(12)}${'max rel err'.padStart(12)}  result\n`);
    }
    const rows = await runGradchecks(ops, args.seed, args.json ? undefined : (row) => process.stdout.write(`${line(row)}\n`));
    const failed = rows.filter((r) => !r.pass);
    if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else process.stdout.write(`\n${ops.length} ops, ${rows.length} cases: ${rows.length - failed.length} passed, ${failed.length} failed\n`);
    await shutdown();
    if (failed.length) process.exitCode = 1;
  },
};
