import { basename, dirname, join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { parseDataset } from '../../data/classes.js';
import { evaluateFolders } from '../../eval/evaluate.js';
import { evaluationMarkdown, writeEvaluation } from '../../eval/report.js';
import { parseTriple } from './data.js';

interface EvalArgs {
  pred: string;
  gt: string;
  dataset: string;
  resize?: string;
  out?: string;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Dice, ASD (upstream/medpy), ASSD and HD95 of predicted label maps against ground truth',
  builder: (y) =>
    y
      .option('pred', { type: 'string', demandOption: true, describe: 'folder of predicted label maps (.nii/.nii.gz)' })
      .option('gt', { type: 'string', demandOption: true, describe: 'folder of ground-truth label maps with the same file names' })
      .option('dataset', { type: 'string', choices: ['amos', 'synapse'], default: 'amos' })
      .option('resize', { type: 'string', describe: "resize both to X×Y×Z first (nearest); upstream's protocol: 160x160x80" })
      .option('out', { type: 'string', describe: 'folder for metrics.csv/.json/.md (default: eval-<pred folder name> next to it)' }) as unknown as Argv<EvalArgs>,
  handler: (args) => {
    const evaluation = evaluateFolders(
      { pred: args.pred, gt: args.gt, dataset: parseDataset(args.dataset), resize: args.resize ? parseTriple(args.resize, '--resize', true) : null },
      (done, total, id) => process.stderr.write(`\r  ${done}/${total} ${id}   `),
    );
    process.stderr.write('\n');
    const out = args.out ?? join(dirname(resolve(args.pred)), `eval-${basename(resolve(args.pred))}`);
    const paths = writeEvaluation(out, evaluation);
    process.stdout.write(`${evaluationMarkdown(evaluation)}\nwrote ${paths.csv}, ${paths.json}, ${paths.markdown}\n`);
  },
};
