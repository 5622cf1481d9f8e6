import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TakError } from '../util/errors.js';
import { commands } from './commands/index.js';

/**
 * `tak-wgpu` command line. Each command lives in its own module under commands/ and is listed in
 * commands/index.ts. A TakError is a user error: print its message and exit 1 without a stack.
 */
async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('tak-wgpu')
    .usage('$0 <command> [options]\n\nTAK semi-supervised multi-organ CT segmentation on WebGPU (Dawn), any adapter.')
    .option('adapter', { type: 'string', describe: 'pick the WebGPU adapter whose name contains this (env TAK_WGPU_ADAPTER)', global: true })
    .option('backend', { type: 'string', describe: 'Dawn backend: vulkan, metal, d3d12, ... (env TAK_WGPU_BACKEND)', global: true })
    .demandCommand(1, 'Name a command; `tak-wgpu --help` lists them.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error, y) => {
      if (error) throw error;
      process.stderr.write(`${y.help()}\n\n${message}\n`);
      process.exit(2);
    });
  for (const command of commands) cli = cli.command(command);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  if (error instanceof TakError) {
    process.stderr.write(`tak-wgpu: ${error.message}\n`);
  } else {
    process.stderr.write(`tak-wgpu: unexpected error\n${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
});
