import type { Argv, CommandModule } from 'yargs';
import { parseDataset } from '../../data/classes.js';
import type { PreprocessOptions } from '../../data/preprocess.js';
import { predictFolder } from '../../eval/predict-folder.js';
import { init, shutdown } from '../../gpu/engine.js';
import { loadEmbeddings } from '../../knowledge/cache.js';
import { TakNet, type TakNetConfig } from '../../models/tak-net.js';
import { readSafetensors } from '../../nn/safetensors.js';
import { fromArray } from '../../tensor/create.js';
import { keep } from '../../tensor/tensor.js';
import { loadWeights } from '../../train/checkpoint.js';
import { TakError } from '../../util/errors.js';
import { parseTriple } from './data.js';

interface PredictArgs {
  adapter?: string;
  backend?: string;
  input: string;
  output: string;
  ckpt: string;
  strides: string;
  gaussian?: boolean;
  batch: number;
}

export const predictCommand: CommandModule<object, PredictArgs> = {
  command: 'predict',
  describe: 'segment a folder of CT images (NIfTI) with a trained TAK model; writes label maps in each input\'s geometry',
  builder: (y) =>
    (y as Argv)
      .option('input', { alias: 'i', type: 'string', demandOption: true, describe: 'folder of .nii/.nii.gz images' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder for the predicted label maps (<id>.nii.gz)' })
      .option('ckpt', { type: 'string', demandOption: true, describe: 'weights: runs/NAME/best.safetensors or a checkpoint\'s student.safetensors' })
      .option('strides', { type: 'string', default: '', describe: 'sliding-window strides XxYxZ (default: patch/3, patch/3, patch/6 — 32, 32, 16 at 96³)' })
      .option('gaussian', { type: 'boolean', describe: 'weight each window\'s probabilities by a centred Gaussian (nnU-Net style)' })
      .option('batch', { type: 'number', default: 4, describe: 'windows per GPU batch' }) as never,
  handler: async (args) => {
    const { metadata } = readSafetensors(args.ckpt);
    if (metadata.format !== 'tak-wgpu-model/1') {
      throw new TakError(`${args.ckpt} carries no tak-wgpu network description; use a best.safetensors or student.safetensors written by tak-wgpu train`);
    }
    const net: TakNetConfig = JSON.parse(metadata.network!);
    const dataset = parseDataset(metadata.dataset);
    const preprocess = JSON.parse(metadata.preprocess!) as PreprocessOptions;
    await init({ adapter: args.adapter, backend: args.backend });
    try {
      const model = new TakNet(net);
      loadWeights(model, args.ckpt);
      model.eval();
      let text = null;
      if (net.text) {
        const e = loadEmbeddings(dataset, metadata.encoder!, metadata.prompt as 'position+shape');
        text = keep(fromArray(e.rows, [e.count, e.dim]));
      }
      const p = net.patch;
      const strides = args.strides ? parseTriple(args.strides, '--strides', true) : ([Math.ceil(p / 3), Math.ceil(p / 3), Math.ceil(p / 6)] as [number, number, number]);
      await predictFolder(model, text, args.input, args.output, {
        dataset,
        preprocess,
        window: { strides, batch: args.batch, gaussian: args.gaussian === true },
        log: (line) => process.stdout.write(`${line}\n`),
      });
    } finally {
      await shutdown();
    }
  },
};
