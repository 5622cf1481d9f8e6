import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { writeFileAtomic } from '../../util/fs.js';
import { loadEmbeddings } from '../../knowledge/cache.js';
import { DATASET_IDS, type DatasetId } from '../../knowledge/datasets.js';
import { embedKnowledge } from '../../knowledge/embed.js';
import { parseEncoderSpec, idFromFileName } from '../../knowledge/encoders/encoder.js';
import { DEFAULT_ENCODER_ID, USE_LITE_DESCRIPTION } from '../../knowledge/encoders/use-lite.js';
import { inspectEmbeddings } from '../../knowledge/inspect.js';
import { defaultKnowledgePath, loadKnowledge } from '../../knowledge/knowledge-file.js';
import { embeddingsDir } from '../../knowledge/paths.js';
import { PROMPT_VARIANTS, type PromptVariant } from '../../knowledge/prompts.js';
import { generateCommand } from './knowledge-generate.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);

const datasetOption = <T>(y: Argv<T>) =>
  y.option('dataset', { choices: DATASET_IDS, demandOption: true, describe: 'which dataset\'s classes' });
const promptOption = <T>(y: Argv<T>) =>
  y.option('prompt', { choices: PROMPT_VARIANTS, default: 'position+shape' as PromptVariant, describe: 'which texts: position+shape = rows [shape_0..C−1, position_0..C−1] as upstream; the others repeat one text in both halves' });

/** The cache id an --encoder value maps to, without opening the encoder. */
function encoderIdOf(value: string): string {
  const spec = parseEncoderSpec(value);
  return spec.kind === 'default' ? DEFAULT_ENCODER_ID : idFromFileName(spec.kind, spec.path);
}

interface EmbedArgs { dataset: DatasetId; encoder: string; prompt: PromptVariant; tokenizer?: string; knowledge?: string; outDir?: string }

const embedCommand: CommandModule<object, EmbedArgs> = {
  command: 'embed',
  describe: 'encode the knowledge texts (or import a torch.save tensor) into knowledge/embeddings/<dataset>.<encoder>.<prompt>.f32 + .json',
  builder: (y) =>
    promptOption(datasetOption(y))
      .option('encoder', { type: 'string', default: 'default', describe: 'default (offline Universal Sentence Encoder lite) | onnx:MODEL.onnx | pth:EMBEDDINGS.pth' })
      .option('tokenizer', { type: 'string', describe: 'tokenizer.json or vocab.txt for onnx: (default: the one beside the model)' })
      .option('knowledge', { type: 'string', describe: 'knowledge file (default: knowledge/<dataset>.json)' })
      .option('out-dir', { type: 'string', describe: 'cache folder (default: knowledge/embeddings)' }) as never,
  handler: async (args) => {
    const encoder = parseEncoderSpec(args.encoder);
    if (encoder.kind === 'default') out(`encoder: ${USE_LITE_DESCRIPTION}`);
    const result = await embedKnowledge({ dataset: args.dataset, encoder, prompt: args.prompt, tokenizer: args.tokenizer, knowledgePath: args.knowledge, outDir: args.outDir });
    if (encoder.kind !== 'default') out(`encoder: ${result.encoderDescription}`);
    out(`wrote ${result.paths.data} [${result.count}, ${result.dim}] float32 and ${result.paths.meta}`);
  },
};

interface InspectArgs { dataset: DatasetId; encoder: string; prompt: PromptVariant; dir?: string; png?: string; knowledge?: string }

const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect',
  describe: 'print the class-by-class cosine similarity of a cached embedding and write a PNG heat map',
  builder: (y) =>
    promptOption(datasetOption(y))
      .option('encoder', { type: 'string', default: 'default', describe: 'the --encoder the cache was made with (default | onnx:PATH | pth:PATH), or its cache id' })
      .option('dir', { type: 'string', describe: 'cache folder (default: knowledge/embeddings)' })
      .option('knowledge', { type: 'string', describe: 'knowledge file to check staleness against (default: knowledge/<dataset>.json)' })
      .option('png', { type: 'string', describe: 'heat map path (default: <cache>.similarity.png beside the cache)' }) as never,
  handler: (args) => {
    const id = /^(onnx|pth):/.test(args.encoder) || args.encoder === 'default' ? encoderIdOf(args.encoder) : args.encoder;
    const embeddings = loadEmbeddings(args.dataset, id, args.prompt, { dir: args.dir, knowledgePath: args.knowledge });
    const report = inspectEmbeddings(embeddings);
    const png = args.png ?? join(args.dir ?? embeddingsDir(), `${args.dataset}.${id}.${args.prompt}.similarity.png`);
    writeFileAtomic(png, report.png);
    out(report.text);
    out(`wrote ${png}`);
  },
};

interface ValidateArgs { dataset?: DatasetId; file?: string }

const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate',
  describe: 'check knowledge files against the schema and the dataset class lists',
  builder: (y) =>
    y.option('dataset', { choices: DATASET_IDS, describe: 'only this dataset (default: all)' })
      .option('file', { type: 'string', describe: 'a knowledge file other than knowledge/<dataset>.json (needs --dataset)' }) as never,
  handler: (args) => {
    const datasets = args.dataset ? [args.dataset] : [...DATASET_IDS];
    for (const dataset of datasets) {
      const path = args.file ?? defaultKnowledgePath(dataset);
      const knowledge = loadKnowledge(dataset, path);
      const sources = new Set(knowledge.classes.flatMap((c) => [c.position.provenance.source, c.shape.provenance.source]));
      out(`${path}: valid, ${knowledge.classes.length} classes (${[...sources].join(' + ')})`);
    }
  },
};

export const knowledgeCommand: CommandModule = {
  command: 'knowledge <command>',
  describe: 'textual anatomical knowledge: generate descriptions, embed them, inspect and validate',
  builder: (y) =>
    y.command(generateCommand).command(embedCommand).command(inspectCommand).command(validateCommand).demandCommand(1, 'Name a knowledge sub-command: generate, embed, inspect or validate.'),
  handler: () => {},
};
