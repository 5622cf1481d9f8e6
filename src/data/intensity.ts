import { TakError, show } from '../util/errors.js';

/**
 * CT intensity normalisation. `tak`: clip to [−125, 275] HU, then (x + 125)/400 → [0, 1], a fixed
 * window (TAK `dataloaders/dataset.py:AMOS_fast`, `utils/test_amos.py`). `dhc`: clip to
 * [−75, 275], then min–max over the volume (DHC `Synapse_AMOS.__getitem__`). `none`: unchanged,
 * e.g. for MagicNet's already-scaled Synapse arrays. method-spec §2.
 */
export const INTENSITY_WINDOWS = ['tak', 'dhc', 'none'] as const;
export type IntensityWindow = (typeof INTENSITY_WINDOWS)[number];

export function parseIntensityWindow(value: unknown): IntensityWindow {
  if (!(INTENSITY_WINDOWS as readonly unknown[]).includes(value)) {
    throw new TakError(`unknown intensity window ${show(value)}: use one of ${INTENSITY_WINDOWS.join(', ')}`);
  }
  return value as IntensityWindow;
}

/** Normalises `data` in place and returns it. */
export function applyIntensityWindow(data: Float32Array, window: IntensityWindow): Float32Array {
  if (window === 'tak') {
    for (let i = 0; i < data.length; i++) data[i] = (Math.min(275, Math.max(-125, data[i]!)) + 125) / 400;
  } else if (window === 'dhc') {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = Math.min(275, Math.max(-75, data[i]!));
      data[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    // A constant volume has no range; PyTorch would divide by zero, here it maps to 0.
    const range = hi > lo ? hi - lo : 1;
    for (let i = 0; i < data.length; i++) data[i] = (data[i]! - lo) / range;
  }
  return data;
}
