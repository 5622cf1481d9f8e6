import { PAPER, registerPreset, type TrainConfig } from './config.js';

/**
 * `cpu`, the embedded default: the method unchanged, scaled to finish on two CPU cores through
 * lavapipe in minutes — the synthetic phantom at a coarser grid, 64³ patches cut into 2³ cubes of
 * 32³ (MagicNet's cube edge; nb_cubes = patch / cube_size as upstream), 8 filters, a short
 * schedule whose ramps (λ_u, entropy threshold, contrast start, blending) are compressed to fit.
 * It shows that the whole pipeline trains and segments; it cannot show the paper's numbers.
 */
export const CPU: TrainConfig = {
  ...PAPER,
  preset: 'cpu',
  seed: 1337,
  patch: 64,
  cubes: 2,
  nFilters: 8,
  labeled: '25%',
  maxEpoch: 11,
  itersPerEpoch: 8,
  lr: 0.01,
  lrDecayIters: 400,
  blendFromIter: 40,
  classLogInterval: 10,
  consistencyRampEpochs: 12,
  contrastStartEpoch: 3,
  entropyRampEpochs: 8,
  contrastSamples: 4,
  validateEvery: 4,
  validateFrom: 3,
  validationStrides: [48, 48, 48],
  validationCases: 1,
  phantomCases: 12,
  phantomValCases: 3,
  phantomShape: [96, 96, 64],
  phantomSeed: 1,
};

registerPreset(CPU);
