import { existsSync, readFileSync } from 'node:fs';
import type { InitScheme } from '../nn/init.js';
import { TakError, show } from '../util/errors.js';

/**
 * Every knob of a TAK training run, with TAK-Semi's values as the `paper` preset
 * (train_AMOS_MagicNet_GA_TAK.py; method-spec §2–§8). A run is a preset, then a JSON config file,
 * then command-line flags, each overriding the one before; the resolved config is stored with
 * every checkpoint so `--resume` continues with exactly the same values.
 */
export interface TrainConfig {
  preset: string;
  dataset: 'amos' | 'synapse';
  /** Dataset folder; empty means: synthesise the phantom into `phantomDir`. */
  data: string;
  /** Labelled share ("5%") or count ("10") of the training cases, when no split files are given. */
  labeled: string;
  /** Folder with labeled_*.txt / unlabeled_*.txt / eval.txt / test.txt (DHC/TAK format). */
  splits: string;
  seed: number;

  // Network (method-spec §3, §6).
  patch: number;
  cubes: number;
  nFilters: number;
  text: boolean;
  contrast: boolean;
  prompt: 'name' | 'position' | 'shape' | 'position+shape';
  encoder: string;
  /**
   * Initialisation of the controller (the conv that writes the dynamic heads' weights): `pytorch`
   * (upstream: PyTorch's default U(±1/√fan_in) weights and bias) or `kaiming` (He normal weights,
   * std √(2/fan_in), zero bias), src/models/tak-net.ts.
   */
  controllerInit: InitScheme;

  // Batches and schedule (§2, §8).
  labeledBatch: number;
  unlabeledBatch: number;
  maxEpoch: number;
  /** Iterations per epoch; 0 = the number of unlabelled cases (upstream). */
  itersPerEpoch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  lrDecayIters: number;
  lrPower: number;

  // Mean teacher and pseudo-labels (§4).
  emaDecay: number;
  noiseStd: number;
  noiseClip: number;
  blendFromIter: number;
  classLogInterval: number;
  tDist: number;
  consistencyWeight: number;
  consistencyRampEpochs: number;
  locationWeight: number;

  // Contrastive alignment (§7).
  contrastWeight: number;
  contrastStartEpoch: number;
  contrastSamples: number;
  temperature: number;
  entropyRampEpochs: number;

  // Validation and outputs.
  validateEvery: number;
  validateFrom: number;
  /** Sliding-window strides for validation (upstream: 90, 90, 80 at 96³ patches). */
  validationStrides: [number, number, number];
  /** Validation cases (0 = all of the eval split). */
  validationCases: number;
  checkpointEvery: number;

  // Phantom (the embedded default dataset).
  phantomCases: number;
  phantomValCases: number;
  phantomShape: [number, number, number];
  phantomSeed: number;
}

export const PAPER: TrainConfig = {
  preset: 'paper',
  dataset: 'amos',
  data: '',
  labeled: '5%',
  splits: '',
  seed: 1337,
  patch: 96,
  cubes: 3,
  nFilters: 16,
  text: true,
  contrast: true,
  prompt: 'position+shape',
  encoder: 'default',
  controllerInit: 'pytorch',
  labeledBatch: 2,
  unlabeledBatch: 2,
  maxEpoch: 160,
  itersPerEpoch: 0,
  lr: 0.01,
  momentum: 0.9,
  weightDecay: 1e-4,
  nesterov: true,
  lrDecayIters: 70000,
  lrPower: 0.9,
  emaDecay: 0.99,
  noiseStd: 0.1,
  noiseClip: 0.2,
  blendFromIter: 100,
  classLogInterval: 20,
  tDist: 1,
  consistencyWeight: 0.1,
  consistencyRampEpochs: 160,
  locationWeight: 0.1,
  contrastWeight: 0.1,
  contrastStartEpoch: 20,
  contrastSamples: 10,
  temperature: 0.07,
  entropyRampEpochs: 100,
  validateEvery: 5,
  validateFrom: 20,
  validationStrides: [90, 90, 80],
  validationCases: 0,
  checkpointEvery: 0,
  phantomCases: 24,
  phantomValCases: 4,
  phantomShape: [160, 160, 80],
  phantomSeed: 1,
};

export const PRESETS: Record<string, TrainConfig> = { paper: PAPER };

export function registerPreset(config: TrainConfig): void {
  PRESETS[config.preset] = config;
}

const ENUMS: Partial<Record<keyof TrainConfig, readonly string[]>> = {
  dataset: ['amos', 'synapse'],
  prompt: ['name', 'position', 'shape', 'position+shape'],
  controllerInit: ['pytorch', 'kaiming'],
};

/** Applies `overrides` (from a JSON file or flags) to `base`, checking every key, type and range. */
export function applyOverrides(base: TrainConfig, overrides: Record<string, unknown>, source: string): TrainConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in base)) {
      throw new TakError(`${source}: unknown setting ${show(key)}; known settings: ${Object.keys(base).join(', ')}`);
    }
    const expected = base[key as keyof TrainConfig];
    if (Array.isArray(expected)) {
      if (!Array.isArray(value) || value.length !== expected.length || value.some((v) => typeof v !== 'number' || !(v > 0))) {
        throw new TakError(`${source}: ${key} must be ${expected.length} positive numbers, got ${show(value)}`);
      }
    } else if (typeof value !== typeof expected) {
      throw new TakError(`${source}: ${key} must be a ${typeof expected}, got ${show(value)}`);
    }
    const allowed = ENUMS[key as keyof TrainConfig];
    if (allowed && !allowed.includes(value as string)) throw new TakError(`${source}: ${key} must be one of ${allowed.join(', ')}, got ${show(value)}`);
    out[key] = value;
  }
  return validateConfig(out as unknown as TrainConfig, source);
}

export function validateConfig(c: TrainConfig, source: string): TrainConfig {
  const fail = (message: string): never => {
    throw new TakError(`${source}: ${message}`);
  };
  const edge = c.patch / c.cubes;
  if (!Number.isInteger(edge) || edge % 16 !== 0) fail(`patch ${c.patch} with ${c.cubes} cubes per axis gives cubes of ${edge} voxels; use a patch that is ${c.cubes}·16·k`);
  if (c.nFilters % 4 !== 0 || c.nFilters < 4) fail(`nFilters ${c.nFilters} must be a multiple of 4 (GroupNorm groups)`);
  for (const key of ['labeledBatch', 'unlabeledBatch', 'maxEpoch', 'patch', 'cubes'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) fail(`${key} must be a positive integer, got ${c[key]}`);
  }
  for (const key of ['lr', 'lrDecayIters', 'temperature', 'tDist'] as const) if (!(c[key] > 0)) fail(`${key} must be positive, got ${c[key]}`);
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) fail(`emaDecay must be in [0, 1), got ${c.emaDecay}`);
  if (c.contrast && !c.text) fail('the contrastive loss aligns features with text anchors: --no-text needs --no-contrast');
  if (!/^\d+(\.\d+)?%?$/.test(c.labeled)) fail(`labeled ${show(c.labeled)} must be a share like 5% or a count like 10`);
  return c;
}

/** Reads a JSON config file of overrides. */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new TakError(`Config file ${path} does not exist`);
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new TakError(`Config file ${path} is not a JSON object of settings: ${(error as Error).message}`);
  }
}

export function resolveConfig(presetName: string, file: string | undefined, flags: Record<string, unknown>): TrainConfig {
  const preset = PRESETS[presetName];
  if (!preset) throw new TakError(`Unknown preset ${show(presetName)}; presets: ${Object.keys(PRESETS).join(', ')}`);
  let config = preset;
  if (file) config = applyOverrides(config, readConfigFile(file), file);
  return applyOverrides(config, flags, 'command line');
}
