import type { Tensor } from '../tensor/tensor.js';
import { randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineComposite } from './registry.js';
import { mean } from './reduce.js';

/**
 * adaptiveAvgPool3d with output size 1 (global average pooling, torch.nn.AdaptiveAvgPool3d(1)):
 * [N, C, D, H, W] → [N, C, 1, 1, 1]. The mean over the spatial axes is the two-stage reduction of
 * reduce.ts (partial sums over chunks of a long row, then their sum), and its VJP spreads
 * g / (D·H·W) back over the volume.
 */
export const adaptiveAvgPool3d = defineComposite(
  'adaptive_avg_pool3d',
  'pool',
  (x: Tensor, outputSize: number | readonly number[] = 1): Tensor => {
    x.live();
    const size = typeof outputSize === 'number' ? [outputSize, outputSize, outputSize] : [...outputSize];
    if (size.length !== 3 || size.some((s) => s !== 1)) {
      throw new TakError(`adaptiveAvgPool3d: only output size 1 (global average pooling) is implemented, got ${show(outputSize)}`);
    }
    if (x.ndim !== 5) throw new TakError(`adaptiveAvgPool3d: input must be [N, C, D, H, W], got ${show([...x.shape])}`);
    return mean(x, [2, 3, 4], true);
  },
  [{ label: '2x3x3x4x5', inputs: () => [randn([2, 3, 3, 4, 5], 0, 1, { seed: 690 })] }],
);
