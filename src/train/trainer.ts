import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPreparedCase } from '../data/cache.js';
import { classesOf } from '../data/classes.js';
import type { CaseRef } from '../data/datasets.js';
import { PatchSampler } from '../data/sampler.js';
import { writePrediction } from '../eval/prediction-io.js';
import { scoreCase, type CaseScore } from '../eval/network-inference.js';
import { loadEmbeddings } from '../knowledge/cache.js';
import { TakNet } from '../models/tak-net.js';
import { Sgd } from '../nn/optim.js';
import { fromArray, manualSeed } from '../tensor/create.js';
import { Tensor, keep } from '../tensor/tensor.js';
import { TakError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { latestCheckpoint, loadCheckpoint, loadWeights, readCheckpointState, saveCheckpoint, saveModel, type CheckpointState } from './checkpoint.js';
import { ClassDistribution } from './class-distribution.js';
import type { TrainConfig } from './config.js';
import { Progress, duration } from './progress.js';
import { writeReport, type ReportData } from './report.js';
import { takStep, type StepLosses } from './tak-step.js';
import { prepareTrainingData, type TrainingData } from './training-data.js';

export interface TrainOptions {
  /** Run folder: checkpoints, metrics.jsonl, predictions, report.html. */
  out: string;
  resume: boolean;
  /** Load initial weights (safetensors or a PyTorch state_dict). */
  initFrom?: string;
  log: (line: string) => void;
  /** Polled after every iteration: true makes the trainer save a checkpoint and stop. */
  stopRequested?: () => boolean;
  progress?: boolean;
}

export interface ValidationRecord {
  epoch: number;
  iteration: number;
  meanDice: number;
  dice: number[];
}

export interface TrainResult {
  iterations: number;
  stopped: boolean;
  best: ValidationRecord | null;
  test: { cases: CaseScore[]; meanDice: number[]; overall: number } | null;
  report: string | null;
}

/** Mean over cases of each organ's Dice (background excluded), and the mean over organs. */
export function meanDice(scores: CaseScore[], classes: number): { perClass: number[]; overall: number } {
  const perClass = Array.from({ length: classes }, (_, c) => (c === 0 ? NaN : scores.reduce((s, r) => s + r.dice[c]!, 0) / scores.length));
  const organs = perClass.slice(1);
  return { perClass, overall: organs.reduce((a, b) => a + b, 0) / organs.length };
}

export function networkConfig(config: TrainConfig, data: TrainingData, textDim: number) {
  return { classes: data.classes, nFilters: config.nFilters, patch: config.patch, cubes: config.cubes, text: config.text, textDim, controllerInit: config.controllerInit };
}

/** The [2C, D] text rows of the run's encoder and prompt (only the cache is read). */
export function loadTextRows(config: TrainConfig, dataset: TrainingData['dataset']): { rows: Tensor | null; dim: number; id: string } {
  if (!config.text) return { rows: null, dim: 0, id: 'none' };
  const embeddings = loadEmbeddings(dataset, config.encoder, config.prompt);
  return { rows: keep(fromArray(embeddings.rows, [embeddings.count, embeddings.dim])), dim: embeddings.dim, id: `${embeddings.meta.encoder.id}/${config.prompt}` };
}

async function scoreCases(net: TakNet, text: Tensor | null, refs: CaseRef[], data: TrainingData, strides: [number, number, number], onCase?: (ref: CaseRef, labels: Uint8Array, score: CaseScore) => void): Promise<CaseScore[]> {
  net.eval();
  const scores: CaseScore[] = [];
  for (const ref of refs) {
    const prepared = loadPreparedCase(ref, data.dataset, data.preprocess, data.cacheDir);
    const { labels, score } = await scoreCase(net, text, prepared, { strides, batch: 4, gaussian: false });
    scores.push(score);
    onCase?.(ref, labels, score);
  }
  net.train();
  return scores;
}

export async function train(config: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const log = options.log;
  const checkpoints = join(options.out, 'checkpoints');
  const previous = existsSync(checkpoints) ? latestCheckpoint(checkpoints) : null;
  if (previous && !options.resume) {
    throw new TakError(`${options.out} already holds a training run (${previous}); pass --resume to continue it, or choose another --out`);
  }
  if (options.resume && !previous) throw new TakError(`--resume: ${options.out} has no checkpoint to resume from`);
  if (previous) {
    const stored = readCheckpointState(previous).config as TrainConfig;
    if (JSON.stringify(stored) !== JSON.stringify(config)) {
      log(`resuming with the configuration stored in ${previous} (flags that differ from it are ignored)`);
      config = stored;
    }
  }
  mkdirSync(options.out, { recursive: true });

  const data = prepareTrainingData(config, log);
  log(`data: ${data.description}`);
  const text = loadTextRows(config, data.dataset);
  manualSeed(config.seed);
  const netConfig = networkConfig(config, data, text.dim);
  const student = new TakNet(netConfig);
  const teacher = new TakNet(netConfig);
  const optimizer = new Sgd(student.namedParameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay, nesterov: config.nesterov });
  const distribution = new ClassDistribution(data.classes);
  let iteration = 0;
  let best: ValidationRecord | null = null;
  const validations: ValidationRecord[] = [];
  if (previous) {
    const state = loadCheckpoint(previous, student, teacher, optimizer);
    iteration = state.iteration;
    distribution.restore(state.distribution as ReturnType<ClassDistribution['state']>);
    best = (state.best as ValidationRecord | null) ?? null;
    validations.push(...((state.validations as ValidationRecord[]) ?? []));
    log(`resumed from ${previous} at iteration ${iteration}`);
  } else if (options.initFrom) {
    loadWeights(student, options.initFrom);
    log(`initial weights from ${options.initFrom}`);
  }
  writeFileAtomic(join(options.out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const sampler = await PatchSampler.open(
    { labeled: data.labeled, unlabeled: data.unlabeled, dataset: data.dataset, preprocess: data.preprocess, cacheDir: data.cacheDir },
    { patch: config.patch, labeledPerBatch: config.labeledBatch, unlabeledPerBatch: config.unlabeledBatch, seed: config.seed, startBatch: iteration },
  );
  const perEpoch = config.itersPerEpoch || sampler.iterationsPerEpoch;
  const epochs = config.maxEpoch + 1;
  const total = epochs * perEpoch;
  log(`training ${total} iterations (${epochs} epochs × ${perEpoch}), ${config.patch}³ patches, ${config.nFilters} filters, text ${config.text ? text.id : 'off'}, contrast ${config.contrast ? 'on' : 'off'}`);
  const metricsLog = join(options.out, 'metrics.jsonl');
  const progress = options.progress === false ? null : new Progress(total, iteration);
  const ctx = { config, student, teacher, textRows: text.rows, optimizer, distribution, classes: data.classes };
  const state = (): CheckpointState => ({
    format: 'tak-wgpu-checkpoint/1',
    iteration,
    epoch: Math.floor(iteration / perEpoch),
    config,
    distribution: distribution.state(),
    best,
    validations,
    text: text.id,
    classes: classesOf(data.dataset).map((c) => c.key),
  });
  const save = async () => saveCheckpoint(checkpoints, `iter-${String(iteration).padStart(7, '0')}`, { student, teacher, optimizer, state: state(), metadata: modelMetadata(config, netConfig, text.id) });
  const started = Date.now();
  let stopped = false;
  try {
    while (iteration < total) {
      const epoch = Math.floor(iteration / perEpoch);
      const batch = await sampler.next();
      const losses = await takStep(ctx, batch, iteration, epoch);
      if (!Number.isFinite(losses.loss)) throw new TakError(`The loss became ${losses.loss} at iteration ${iteration}; lower --lr or check the data (NaN voxels?)`);
      iteration++;
      appendFileSync(metricsLog, `${JSON.stringify({ iteration, epoch, ...losses, time: (Date.now() - started) / 1000 })}\n`);
      progress?.update(iteration, epoch, epochs, {
        loss: losses.loss, sup: losses.supervised, loc: losses.location, cons: losses.consistency, con: losses.contrast,
        'λu': losses.lambdaU, 'λc': losses.lambdaC, lr: losses.lr,
      });
      const epochDone = iteration % perEpoch === 0;
      if (epochDone && epoch % config.validateEvery === 0 && epoch >= config.validateFrom && data.validation.length) {
        const refs = config.validationCases ? data.validation.slice(0, config.validationCases) : data.validation;
        const scores = await scoreCases(student, text.rows, refs, data, config.validationStrides);
        const { perClass, overall } = meanDice(scores, data.classes);
        const record: ValidationRecord = { epoch, iteration, meanDice: overall, dice: perClass };
        validations.push(record);
        appendFileSync(metricsLog, `${JSON.stringify({ validation: record })}\n`);
        const note = `epoch ${epoch}: validation mean Dice ${(100 * overall).toFixed(2)} over ${refs.length} case(s)`;
        if (!best || overall > best.meanDice) {
          best = record;
          await saveModel(join(options.out, 'best.safetensors'), student, { ...modelMetadata(config, netConfig, text.id), epoch: String(epoch), iteration: String(iteration), meanDice: String(overall) });
          progress ? progress.note(`${note} (best so far, saved)`) : log(`${note} (best so far, saved)`);
        } else {
          progress ? progress.note(note) : log(note);
        }
      }
      const periodic = config.checkpointEvery > 0 && iteration % config.checkpointEvery === 0;
      if (epochDone || periodic || iteration === total) await save();
      if (options.stopRequested?.()) {
        await save();
        stopped = true;
        break;
      }
    }
  } finally {
    progress?.end();
    await sampler.close();
  }
  log(`${stopped ? 'stopped' : 'finished'} at iteration ${iteration} after ${duration((Date.now() - started) / 1000)}`);
  if (stopped) return { iterations: iteration, stopped, best, test: null, report: null };

  // Held-out evaluation with the best checkpoint (or the last weights).
  if (best) loadWeights(student, join(options.out, 'best.safetensors'));
  const testRefs = data.test.length ? data.test : data.validation;
  const predictions = join(options.out, 'predictions');
  const pictures: ReportData['pictures'] = [];
  const scores = await scoreCases(student, text.rows, testRefs, data, [Math.ceil(config.patch / 3), Math.ceil(config.patch / 3), Math.ceil(config.patch / 6)], (ref, labels, score) => {
    const prepared = loadPreparedCase(ref, data.dataset, data.preprocess, data.cacheDir);
    writePrediction(join(predictions, `${ref.id}.nii.gz`), prepared, labels);
    if (pictures.length < 3) pictures.push({ id: ref.id, prepared, labels });
    log(`test ${ref.id}: mean organ Dice ${(100 * score.dice.slice(1).reduce((a, b) => a + b, 0) / (data.classes - 1)).toFixed(2)}`);
  });
  const { perClass, overall } = meanDice(scores, data.classes);
  const classes = classesOf(data.dataset);
  log(`held-out ${data.test.length ? 'test' : 'validation'} Dice per class (${testRefs.length} cases):`);
  for (let c = 1; c < data.classes; c++) log(`  ${classes[c]!.abbreviation.padEnd(4)} ${classes[c]!.name.padEnd(30)} ${(100 * perClass[c]!).toFixed(2)}`);
  log(`  mean over organs: ${(100 * overall).toFixed(2)}`);
  const report = writeReport(join(options.out, 'report.html'), {
    config,
    dataset: data.dataset,
    description: data.description,
    history: readHistory(metricsLog),
    validations,
    test: { cases: scores, perClass, overall, split: data.test.length ? 'test' : 'validation' },
    pictures,
  });
  log(`report: ${report}`);
  return { iterations: iteration, stopped, best, test: { cases: scores, meanDice: perClass, overall }, report };
}

/** The per-iteration losses logged in metrics.jsonl (all segments of a resumed run, last write wins). */
function readHistory(path: string): (StepLosses & { iteration: number; epoch: number })[] {
  const byIteration = new Map<number, StepLosses & { iteration: number; epoch: number }>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as StepLosses & { iteration?: number; epoch: number };
    if (typeof entry.iteration === 'number' && 'loss' in entry) byIteration.set(entry.iteration, entry as StepLosses & { iteration: number; epoch: number });
  }
  return [...byIteration.values()].sort((a, b) => a.iteration - b.iteration);
}

/**
 * What `tak-wgpu predict` needs to rebuild the network from a weights file alone: the network
 * configuration, the text rows it was conditioned on (dataset, encoder, prompt) and the
 * preprocessing of its inputs. Stored as safetensors metadata (string → string).
 */
export function modelMetadata(config: TrainConfig, net: ReturnType<typeof networkConfig>, textId: string): Record<string, string> {
  return {
    format: 'tak-wgpu-model/1',
    network: JSON.stringify(net),
    dataset: config.dataset,
    encoder: config.encoder,
    prompt: config.prompt,
    text: textId,
    preprocess: JSON.stringify({ window: 'tak', reorient: true, resample: null }),
    preset: config.preset,
  };
}
