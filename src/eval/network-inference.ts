import { noGrad } from '../autograd/graph.js';
import type { PreparedCase } from '../data/preprocess.js';
import { spacingOf } from '../data/volume.js';
import { softmax } from '../ops/softmax.js';
import { fromArray } from '../tensor/create.js';
import { scope } from '../tensor/tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TakNet } from '../models/tak-net.js';
import { caseMetrics, type ClassMetrics } from './metrics.js';
import { slidingWindowLabels, type SlidingWindowOptions } from './sliding-window.js';

/**
 * A TAK network as the sliding window's model: windows [n, 1, P, P, P] → softmax probabilities
 * [n, C, P, P, P] computed on the GPU in batches, without gradients.
 */
export function networkPredictor(net: TakNet, textRows: Tensor | null): (windows: Float32Array, n: number) => Promise<Float32Array> {
  const p = net.config.patch;
  return async (windows, n) => {
    const probs = noGrad(() =>
      scope(() => {
        const x = fromArray(windows.subarray(0, n * p ** 3), [n, 1, p, p, p]);
        return softmax(net.forward(x, textRows), 1);
      }),
    );
    const out = (await probs.toArray()) as Float32Array;
    probs.dispose();
    return out;
  };
}

/** The label map of a prepared case by sliding-window inference. */
export async function segmentCase(net: TakNet, textRows: Tensor | null, prepared: PreparedCase, options: Omit<SlidingWindowOptions, 'patch'>): Promise<Uint8Array> {
  return slidingWindowLabels(prepared.image, prepared.dims, net.config.classes, networkPredictor(net, textRows), { ...options, patch: net.config.patch });
}

export interface CaseScore {
  id: string;
  /** Dice per class id (index 0, background, unused). */
  dice: number[];
  metrics: ClassMetrics[];
}

/** Segments and scores one labelled case against its ground truth. */
export async function scoreCase(net: TakNet, textRows: Tensor | null, prepared: PreparedCase, options: Omit<SlidingWindowOptions, 'patch'>): Promise<{ labels: Uint8Array; score: CaseScore }> {
  const labels = await segmentCase(net, textRows, prepared, options);
  const metrics = caseMetrics(labels, prepared.label!, prepared.dims, spacingOf(prepared.affine), net.config.classes);
  return { labels, score: { id: prepared.id, dice: metrics.map((m) => m?.dice ?? NaN), metrics } };
}
