import { PNG } from 'pngjs';

/** Five stops of matplotlib's viridis: perceptually even, readable in grey and by colour-blind readers. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function viridis(t: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  return [0, 1, 2].map((k) => Math.round(a[k]! + f * (b[k]! - a[k]!))) as [number, number, number];
}

/**
 * A PNG heat map of a square similarity matrix: one `cell`-pixel square per entry, coloured from
 * `low` (dark violet) to `high` (yellow) so that the spread of off-diagonal cosines is visible,
 * with a white line between the two prompt halves at row/column `halfAt`.
 */
export function heatmapPng(matrix: Float64Array, size: number, halfAt: number, low: number, high: number, cell = 16): Buffer {
  const png = new PNG({ width: size * cell, height: size * cell });
  const span = high - low || 1;
  for (let y = 0; y < size * cell; y++) {
    for (let x = 0; x < size * cell; x++) {
      const i = Math.floor(y / cell);
      const j = Math.floor(x / cell);
      const onDivider = halfAt > 0 && (y === halfAt * cell || x === halfAt * cell);
      const [r, g, b] = onDivider ? [255, 255, 255] : viridis((matrix[i * size + j]! - low) / span);
      const at = (y * size * cell + x) * 4;
      png.data[at] = r;
      png.data[at + 1] = g;
      png.data[at + 2] = b;
      png.data[at + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}
