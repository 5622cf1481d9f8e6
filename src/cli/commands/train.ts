import type { Argv, CommandModule } from 'yargs';
import { init, shutdown } from '../../gpu/engine.js';
import { resolveConfig, type TrainConfig } from '../../train/config.js';
import '../../train/presets.js';
import { train } from '../../train/trainer.js';
import { TakError, show } from '../../util/errors.js';

interface TrainArgs {
  adapter?: string;
  backend?: string;
  data?: string;
  dataset?: string;
  labeled?: string;
  splits?: string;
  preset: string;
  config?: string;
  out?: string;
  resume?: boolean;
  'init-from'?: string;
  seed?: number;
  epochs?: number;
  'iters-per-epoch'?: number;
  patch?: number;
  filters?: number;
  prompt?: string;
  encoder?: string;
  text?: boolean;
  contrast?: boolean;
  lr?: number;
  set?: string[];
}

/** `--set key=value` pairs (numbers, booleans, JSON arrays, or strings) into config overrides. */
function parseSets(sets: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of sets) {
    const at = item.indexOf('=');
    if (at <= 0) throw new TakError(`--set ${show(item)} must look like key=value, e.g. --set contrastWeight=0.2`);
    const raw = item.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[item.slice(0, at)] = value;
  }
  return out;
}

export function trainConfigFromArgs(args: TrainArgs): TrainConfig {
  const flags: Record<string, unknown> = {
    data: args.data,
    dataset: args.dataset,
    labeled: args.labeled,
    splits: args.splits,
    seed: args.seed,
    maxEpoch: args.epochs === undefined ? undefined : args.epochs - 1,
    itersPerEpoch: args['iters-per-epoch'],
    patch: args.patch,
    nFilters: args.filters,
    prompt: args.prompt,
    encoder: args.encoder,
    text: args.text,
    contrast: args.text === false && args.contrast === undefined ? false : args.contrast,
    lr: args.lr,
    ...parseSets(args.set),
  };
  return resolveConfig(args.preset, args.config, flags);
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train TAK (mean-teacher MagicNet + text-driven head); without --data on the synthetic phantom with the cpu preset',
  builder: (y) =>
    (y as Argv)
      .option('data', { type: 'string', describe: 'dataset folder (AMOS22 with dataset.json, Synapse RawData, or DHC npy); default: the phantom' })
      .option('dataset', { type: 'string', choices: ['amos', 'synapse'], describe: 'class set (default from the preset: amos)' })
      .option('labeled', { type: 'string', describe: 'labelled share or count of the training cases, e.g. 5% or 10' })
      .option('splits', { type: 'string', describe: 'folder with labeled_5p.txt, unlabeled_5p.txt, eval.txt, test.txt (DHC/TAK format)' })
      .option('preset', { type: 'string', default: 'cpu', describe: 'paper (96³, 16 filters, 161 epochs) or cpu (the 2-core default)' })
      .option('config', { type: 'string', describe: 'JSON file of settings overriding the preset' })
      .option('out', { type: 'string', describe: 'run folder (default runs/<preset>-<timestamp>)' })
      .option('resume', { type: 'boolean', describe: 'continue the run in --out from its latest checkpoint' })
      .option('init-from', { type: 'string', describe: 'initial weights: .safetensors or a PyTorch state_dict (.pth) of the reference implementation' })
      .option('seed', { type: 'number' })
      .option('epochs', { type: 'number', describe: 'number of epochs (upstream: max_epoch + 1)' })
      .option('iters-per-epoch', { type: 'number', describe: 'iterations per epoch (0: the number of unlabelled cases, as upstream)' })
      .option('patch', { type: 'number', describe: 'crop edge P' })
      .option('filters', { type: 'number', describe: 'V-Net n_filters' })
      .option('prompt', { type: 'string', choices: ['name', 'position', 'shape', 'position+shape'], describe: 'which knowledge texts the head is conditioned on' })
      .option('encoder', { type: 'string', describe: 'text encoder of the embedding cache: default, or the id printed by `knowledge embed`' })
      .option('text', { type: 'boolean', describe: '--no-text: a plain 1×1×1 conv head (the MagicNet + GA baseline; implies --no-contrast)' })
      .option('contrast', { type: 'boolean', describe: '--no-contrast: drop the cross-modal contrastive loss' })
      .option('lr', { type: 'number' })
      .option('set', { type: 'string', array: true, describe: 'any other setting: --set key=value (see the config file format in the README)' }) as never,
  handler: async (args) => {
    const config = trainConfigFromArgs(args);
    const out = args.out ?? `runs/${config.preset}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '').replace(/-/g, '')}`;
    await init({ adapter: args.adapter, backend: args.backend });
    let stop = false;
    const onSigint = () => {
      if (stop) process.exit(130);
      stop = true;
      process.stderr.write('\ninterrupted: saving a checkpoint after this iteration (Ctrl-C again to quit now)\n');
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await train(config, {
        out,
        resume: args.resume === true,
        initFrom: args['init-from'],
        log: (line) => process.stdout.write(`${line}\n`),
        stopRequested: () => stop,
      });
      if (result.stopped) {
        process.stdout.write(`checkpoint saved; continue with: tak-wgpu train --out ${out} --resume\n`);
        process.exitCode = 130;
      }
    } finally {
      process.off('SIGINT', onSigint);
      await shutdown();
    }
  },
};
