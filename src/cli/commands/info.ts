import type { CommandModule } from 'yargs';
import { init, shutdown } from '../../gpu/engine.js';

interface InfoArgs {
  adapter?: string;
  backend?: string;
  json?: boolean;
}

export const infoCommand: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'show the WebGPU adapter Dawn picked: vendor, architecture, backend, limits, features',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print one JSON object' }) as never,
  handler: async (args) => {
    const engine = await init({ adapter: args.adapter, backend: args.backend });
    const { summary, features, limits } = engine.gpu;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ adapter: summary, features, limits }, null, 2)}\n`);
    } else {
      const rows: [string, string][] = [
        ['adapter', summary.description],
        ['vendor', summary.vendor || '-'],
        ['architecture', summary.architecture || '-'],
        ['device', summary.device || '-'],
        ['backend', summary.backend],
        ['fallback adapter', String(summary.isFallbackAdapter)],
        ['software (CPU) adapter', String(summary.isSoftware)],
        ['features used', features.join(', ') || 'none'],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(24)}${v}\n`);
      process.stdout.write('limits\n');
      for (const [k, v] of Object.entries(limits)) process.stdout.write(`  ${k.padEnd(44)}${v}\n`);
    }
    await shutdown();
  },
};
