import { TakError } from '../util/errors.js';
import { Rng } from '../util/random.js';

/**
 * Which cases go into batch k, following TAK/GA's `AMOS_fast` + `TwoStreamBatchSampler`
 * (method-spec §2): the dataset has 2U labelled slots (slot i → labelled case i mod L, so few
 * labelled cases are oversampled) and 2U unlabelled slots (slot i → unlabelled case i mod U).
 * Each epoch walks one random permutation of the labelled slots, `labeledPerBatch` at a time
 * (so an epoch is ⌊2U / labeledPerBatch⌋ iterations: U for upstream's 2 + 2), and takes the
 * unlabelled halves from a fresh endless stream of permutations of the unlabelled slots.
 * Everything derives from (seed, epoch): batch k can be planned without planning k − 1.
 */
export interface BatchPlan {
  /** global batch number, epoch and iteration within it */
  index: number;
  epoch: number;
  iteration: number;
  labeled: number[];
  unlabeled: number[];
}

export interface PlanOptions {
  labeledCases: number;
  unlabeledCases: number;
  labeledPerBatch: number;
  unlabeledPerBatch: number;
  seed: number;
}

export function checkPlanOptions(o: PlanOptions): void {
  if (o.labeledCases < 1) throw new TakError('the sampler needs at least one labelled case');
  if (!(Number.isInteger(o.labeledPerBatch) && o.labeledPerBatch >= 1)) throw new TakError(`labelled samples per batch must be ≥ 1, got ${o.labeledPerBatch}`);
  if (!(Number.isInteger(o.unlabeledPerBatch) && o.unlabeledPerBatch >= 0)) throw new TakError(`unlabelled samples per batch must be ≥ 0, got ${o.unlabeledPerBatch}`);
  if (o.unlabeledCases === 0 && o.unlabeledPerBatch > 0) {
    throw new TakError(`${o.unlabeledPerBatch} unlabelled samples per batch were asked for, but the split has no unlabelled cases; set unlabelled per batch to 0 for supervised training`);
  }
}

/** Slots per stream: 2U as upstream; without unlabelled cases (supervised), 2L. */
function slotCount(o: PlanOptions): number {
  return 2 * (o.unlabeledCases > 0 ? o.unlabeledCases : o.labeledCases);
}

export function iterationsPerEpoch(o: PlanOptions): number {
  return Math.max(1, Math.floor(slotCount(o) / o.labeledPerBatch));
}

const LABELED_STREAM = 1;
const UNLABELED_STREAM = 2;

export function planBatch(o: PlanOptions, index: number): BatchPlan {
  const perEpoch = iterationsPerEpoch(o);
  const epoch = Math.floor(index / perEpoch);
  const iteration = index % perEpoch;
  const slots = slotCount(o);
  const root = new Rng(o.seed);
  const labeledOrder = root.fork(LABELED_STREAM).fork(epoch).permutation(slots);
  const labeled = Array.from({ length: o.labeledPerBatch }, (_, j) => labeledOrder[(iteration * o.labeledPerBatch + j) % slots]! % o.labeledCases);
  const unlabeled: number[] = [];
  for (let j = 0; j < o.unlabeledPerBatch; j++) {
    const position = iteration * o.unlabeledPerBatch + j;
    const round = Math.floor(position / slots);
    const order = root.fork(UNLABELED_STREAM).fork(epoch).fork(round).permutation(slots);
    unlabeled.push(order[position % slots]! % o.unlabeledCases);
  }
  return { index, epoch, iteration, labeled, unlabeled };
}
