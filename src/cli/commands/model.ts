import type { Argv, CommandModule } from 'yargs';
import { init, shutdown } from '../../gpu/engine.js';
import { classCount } from '../../data/classes.js';
import { TakNet } from '../../models/tak-net.js';
import { forwardGmac, parameterRows } from '../../models/summary.js';
import { resolveConfig } from '../../train/config.js';
import '../../train/presets.js';

interface SummaryArgs {
  adapter?: string;
  backend?: string;
  preset: string;
  text?: boolean;
}

const summaryCommand: CommandModule<object, SummaryArgs> = {
  command: 'summary',
  describe: 'parameters per module and forward GMAC per patch of the TAK network of a preset',
  builder: (y) =>
    (y as Argv)
      .option('preset', { type: 'string', default: 'paper', describe: 'paper or cpu' })
      .option('text', { type: 'boolean', describe: '--no-text: the baseline with a 1×1×1 conv head' }) as never,
  handler: async (args) => {
    const config = resolveConfig(args.preset, undefined, { text: args.text, contrast: args.text === false ? false : undefined });
    await init({ adapter: args.adapter, backend: args.backend });
    const netConfig = { classes: classCount(config.dataset), nFilters: config.nFilters, patch: config.patch, cubes: config.cubes, text: config.text, textDim: 512 };
    const net = new TakNet(netConfig);
    const gmac = forwardGmac(netConfig);
    const rows = parameterRows(net);
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`TAK network, preset ${config.preset}: ${netConfig.classes} classes, n_filters ${config.nFilters}, ${config.patch}³ patch, ${config.cubes}³ cubes, text head ${config.text ? 'on' : 'off'}`);
    out(`${'module'.padEnd(20)}${'parameters'.padStart(14)}${'GMAC/patch'.padStart(14)}`);
    const fmt = (n: number) => n.toLocaleString('en-US');
    for (const r of rows) out(`${r.module.padEnd(20)}${fmt(r.parameters).padStart(14)}${(gmac.get(r.module) ?? 0).toFixed(3).padStart(14)}`);
    for (const [name, g] of gmac) if (!rows.some((r) => r.module === name)) out(`${name.padEnd(20)}${'-'.padStart(14)}${g.toFixed(3).padStart(14)}`);
    const total = net.numParameters();
    const projectors = net.namedParameters().filter(([k]) => k.startsWith('features_to_')).reduce((n, [, p]) => n + p.size, 0);
    const macs = [...gmac.values()].reduce((a, b) => a + b, 0);
    out(`${'total'.padEnd(20)}${fmt(total).padStart(14)}${macs.toFixed(3).padStart(14)}`);
    if (projectors) out(`without the training-only contrastive projectors (features_to_*): ${fmt(total - projectors)} parameters`);
    out(`forward: ${macs.toFixed(2)} GMAC (${(2 * macs).toFixed(1)} GFLOP) per ${config.patch}³ patch`);
    net.dispose();
    await shutdown();
  },
};

export const modelCommand: CommandModule = {
  command: 'model <command>',
  describe: 'the TAK network: summary',
  builder: (y) => y.command(summaryCommand).demandCommand(1),
  handler: () => {},
};
