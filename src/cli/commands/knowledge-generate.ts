import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { TakError } from '../../util/errors.js';
import { DATASET_IDS, type DatasetId } from '../../knowledge/datasets.js';
import { dryRunText, formatUsage, generateKnowledge } from '../../knowledge/generator/generate.js';
import { knowledgeDir } from '../../knowledge/paths.js';
import { atlasViews } from '../../knowledge/generator/atlas.js';

interface GenerateArgs {
  dataset: DatasetId;
  data?: string;
  model: string;
  baseUrl?: string;
  out?: string;
  dryRun?: boolean;
  minConfidence: number;
  maxRetries: number;
  timeout: number;
  formatRetries: number;
  cases: number;
  seed: number;
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'write a knowledge file with the two-agent OpenAI generator (key from OPENAI_API_KEY, never printed)',
  builder: (y) =>
    y.option('dataset', { choices: DATASET_IDS, demandOption: true, describe: 'which dataset\'s classes' })
      .option('data', { type: 'string', describe: 'dataset folder: agent 2 checks claims against rendered views of sampled labelled cases' })
      .option('model', { type: 'string', default: 'gpt-4o', describe: 'chat model with structured outputs (and image input for --data)' })
      .option('base-url', { type: 'string', describe: 'OpenAI-compatible API base URL (default: OPENAI_BASE_URL or api.openai.com/v1)' })
      .option('out', { type: 'string', describe: 'output file (default: knowledge/<dataset>.generated.json; the curated file is never overwritten by default)' })
      .option('dry-run', { type: 'boolean', describe: 'print the prompts and call nothing' })
      .option('min-confidence', { type: 'number', default: 0.6, describe: 'agent 2 verdicts below this confidence drop the claim' })
      .option('max-retries', { type: 'number', default: 5, describe: 'retries with exponential backoff on 429, 5xx, connection errors and timeouts' })
      .option('timeout', { type: 'number', default: 120_000, describe: 'milliseconds to wait for one answer' })
      .option('cases', { type: 'number', default: 2, describe: 'labelled cases rendered for the visual check (with --data)' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the case sampling (with --data)' })
      .option('format-retries', { type: 'number', default: 2, describe: 're-asks after an answer that is not valid JSON or breaks the schema' }) as never,
  handler: async (args) => {
    const views = args.data ? atlasViews(args.data, args.dataset, args.cases, args.seed) : [];
    if (args.dryRun) {
      out(dryRunText(args.dataset, args.model, views.length));
      return;
    }
    const apiKey = process.env.OPENAI_API_KEY;
    if (!apiKey) {
      throw new TakError('OPENAI_API_KEY is not set: export your OpenAI API key in that variable (it is read only from the environment and never printed), or use --dry-run to see the prompts');
    }
    const path = args.out ?? join(knowledgeDir(), `${args.dataset}.generated.json`);
    const result = await generateKnowledge({
      dataset: args.dataset,
      out: path,
      apiKey,
      baseURL: args.baseUrl,
      model: args.model,
      maxRetries: args.maxRetries,
      timeoutMs: args.timeout,
      formatRetries: args.formatRetries,
      minConfidence: args.minConfidence,
      views,
      viewsNote: args.data
        ? `checked against ${views.length} rendered views of ${Math.min(args.cases, views.length / 4)} labelled cases from ${args.data} (seed ${args.seed})`
        : 'no --data given: the visual check was skipped; claims were judged from anatomical knowledge only',
      log: out,
    });
    out(`wrote ${result.path} (${result.generated.length} classes generated${result.resumed.length ? `, ${result.resumed.length} resumed` : ''}); review the texts before embedding them`);
    out(`token usage: this run ${formatUsage(result.usage)}; whole file ${formatUsage(result.totalUsage)}`);
  },
};
