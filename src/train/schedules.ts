/**
 * TAK-Semi's schedules (train_AMOS_MagicNet_GA_TAK.py; method-spec §4, §7, §8), as pure functions
 * of the iteration / epoch so a resumed run computes exactly the values of an uninterrupted one.
 */

/** utils/ramps.py sigmoid_rampup: exp(−5(1 − t)²) with t = clip(current, 0, length) / length. */
export function sigmoidRampup(current: number, length: number): number {
  if (length === 0) return 1;
  const t = Math.min(Math.max(current, 0), length) / length;
  return Math.exp(-5 * (1 - t) * (1 - t));
}

/** Poly decay after every iteration: lr = base·(1 − iter/maxIters)^power (70000 and 0.9 upstream). */
export function polyLr(base: number, iteration: number, maxIters: number, power: number): number {
  return base * Math.max(0, 1 - iteration / maxIters) ** power;
}

/** Mean-teacher EMA rate: min(1 − 1/(step + 1), decay); 0 at step 0 copies the student. */
export function emaAlpha(step: number, decay: number): number {
  return Math.min(1 - 1 / (step + 1), decay);
}

/** λ_u = w·sigmoid_rampup(epoch, rampEpochs) (w = 0.1, ramp = max_epoch = 160). */
export function consistencyWeight(epoch: number, weight: number, rampEpochs: number): number {
  return weight * sigmoidRampup(epoch, rampEpochs);
}

/** Entropy threshold for unlabeled anchors: ln 2·(0.75 + 0.25·sigmoid_rampup(epoch, 100)). */
export function entropyThreshold(epoch: number, rampEpochs: number): number {
  return Math.log(2) * (0.75 + 0.25 * sigmoidRampup(epoch, rampEpochs));
}

/** The contrastive loss is on for epoch > start (0-based, i.e. from the 22nd epoch upstream). */
export function contrastActive(epoch: number, startEpoch: number): boolean {
  return epoch > startEpoch;
}
