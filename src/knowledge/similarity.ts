import type { ClassInfo } from './datasets.js';

/** Cosine similarity of every pair of rows of a [count, dim] matrix, [count, count] row-major. */
export function cosineMatrix(rows: Float32Array, count: number, dim: number): Float64Array {
  const norms = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < dim; k++) sum += rows[i * dim + k]! ** 2;
    norms[i] = Math.sqrt(sum);
  }
  const out = new Float64Array(count * count);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < count; j++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += rows[i * dim + k]! * rows[j * dim + k]!;
      out[i * count + j] = dot / (norms[i]! * norms[j]! || 1);
    }
  }
  return out;
}

/** The C×C block of one half (0 or 1) of a [2C, 2C] matrix. */
export function halfBlock(matrix: Float64Array, classes: number, half: number): Float64Array {
  const size = 2 * classes;
  const out = new Float64Array(classes * classes);
  for (let i = 0; i < classes; i++) {
    for (let j = 0; j < classes; j++) out[i * classes + j] = matrix[(half * classes + i) * size + half * classes + j]!;
  }
  return out;
}

/** For each class: the other class whose row is most similar, within one C×C block. */
export function nearestClasses(block: Float64Array, classes: number): { nearest: number; cosine: number }[] {
  return Array.from({ length: classes }, (_, i) => {
    let nearest = -1;
    let cosine = -Infinity;
    for (let j = 0; j < classes; j++) {
      if (j !== i && block[i * classes + j]! > cosine) {
        nearest = j;
        cosine = block[i * classes + j]!;
      }
    }
    return { nearest, cosine };
  });
}

/** Left/right organ pairs (method-spec §5: upstream's rows show them as each other's nearest). */
export function leftRightPairs(classes: readonly ClassInfo[]): [ClassInfo, ClassInfo][] {
  const pairs: [ClassInfo, ClassInfo][] = [];
  for (const right of classes) {
    if (!right.key.startsWith('right_')) continue;
    const left = classes.find((c) => c.key === `left_${right.key.slice('right_'.length)}`);
    if (left) pairs.push([right, left]);
  }
  return pairs;
}

export interface PairCheck {
  half: number;
  right: ClassInfo;
  left: ClassInfo;
  cosine: number;
  /** Each is the other's most similar class in this half. */
  mutualNearest: boolean;
  /** Rank of the partner among the right organ's neighbours (1 = most similar). */
  rank: number;
}

/** Checks, per half, whether each left/right pair are each other's most similar rows. */
export function checkLeftRightPairs(matrix: Float64Array, classes: readonly ClassInfo[]): PairCheck[] {
  const c = classes.length;
  const checks: PairCheck[] = [];
  for (const half of [0, 1]) {
    const block = halfBlock(matrix, c, half);
    const nearest = nearestClasses(block, c);
    for (const [right, left] of leftRightPairs(classes)) {
      const cosine = block[right.id * c + left.id]!;
      const rank = 1 + classes.filter((o) => o.id !== right.id && block[right.id * c + o.id]! > cosine).length;
      const mutualNearest = nearest[right.id]!.nearest === left.id && nearest[left.id]!.nearest === right.id;
      checks.push({ half, right, left, cosine, mutualNearest, rank });
    }
  }
  return checks;
}
