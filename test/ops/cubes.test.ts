import { describe, expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { capBindingBytes } from '../../src/ops/chunks.js';
import { useEngine } from '../support/engine.js';
import { randomArray } from '../support/reference.js';

useEngine();

const at = (shape: number[], idx: number[]) => idx.reduce((off, v, i) => off * shape[i]! + v, 0);

describe('MagicNet cube partition and recovery (method-spec §3)', () => {
  it('partitionCubes lists cube (x, y, z) of image b at row b·27 + 9x + 3y + z, and assembleCubes inverts it for every cube', async () => {
    const shape = [2, 3, 6, 6, 6];
    const data = randomArray(2 * 3 * 216, 1);
    const x = T.fromArray(data, shape);
    const cubes = T.partitionCubes(x, 3);
    expect(cubes.shape).toEqual([54, 3, 2, 2, 2]);
    const c = await cubes.toArray();
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 27; k++) {
        const [cx, cy, cz] = [Math.floor(k / 9), Math.floor(k / 3) % 3, k % 3];
        for (let ch = 0; ch < 3; ch++) {
          for (const [i, j, l] of [[0, 0, 0], [1, 0, 1], [0, 1, 1], [1, 1, 0]]) {
            const got = c[at([54, 3, 2, 2, 2], [b * 27 + k, ch, i!, j!, l!])];
            const want = data[at(shape, [b, ch, cx * 2 + i!, cy * 2 + j!, cz * 2 + l!])];
            expect(got).toBe(want);
          }
        }
      }
    }
    expect(Array.from(await T.assembleCubes(cubes, 3).toArray())).toEqual(Array.from(data));
  });

  it('mixCubes moves whole cubes across the batch and the inverse permutation recovers them', async () => {
    const shape = [3, 2, 8, 8, 8];
    const data = randomArray(3 * 2 * 512, 2);
    const source = new Int32Array(3 * 8);
    for (let c = 0; c < 8; c++) {
      const perm = [[0, 1, 2], [2, 0, 1], [1, 2, 0]][c % 3]!;
      for (let b = 0; b < 3; b++) source[b * 8 + c] = perm[b]!;
    }
    const mixed = await T.mixCubes(T.fromArray(data, shape), source, 2).toArray();
    for (let b = 0; b < 3; b++) {
      for (const [z, y, w] of [[0, 0, 0], [5, 1, 6], [7, 7, 7], [3, 4, 2]]) {
        const cube = (Math.floor(z! / 4) * 2 + Math.floor(y! / 4)) * 2 + Math.floor(w! / 4);
        const from = source[b * 8 + cube]!;
        expect(mixed[at(shape, [b, 1, z!, y!, w!])]).toBe(data[at(shape, [from, 1, z!, y!, w!])]);
      }
    }
    const inverse = T.invertCubePermutation(source, 3, 8);
    const back = T.mixCubes(T.fromArray(mixed, shape), inverse, 2);
    expect(Array.from(await back.toArray())).toEqual(Array.from(data));
    // Odd cube edges (3) take the scalar path.
    const odd = randomArray(2 * 1 * 216, 3);
    const swap = Int32Array.from({ length: 16 }, (_, i) => (i < 8 ? 1 : 0));
    const swapped = await T.mixCubes(T.fromArray(odd, [2, 1, 6, 6, 6]), swap, 2).toArray();
    expect(Array.from(swapped)).toEqual([...odd.slice(216), ...odd.slice(0, 216)]);
    expect(() => T.mixCubes(T.fromArray(odd, [2, 1, 6, 6, 6]), new Int32Array(16), 2)).toThrow(/does not permute/);
  });

  it('mixCubes over the binding limit copies cube by cube and matches the single-dispatch result', async () => {
    const shape = [3, 2, 8, 8, 8]; // 12 KB: over a 4 KB cap, one image (4 KB) per window
    const data = randomArray(3 * 2 * 512, 6);
    const source = Int32Array.from({ length: 24 }, (_, i) => [[0, 1, 2], [2, 0, 1], [1, 2, 0]][(i % 8) % 3]![Math.floor(i / 8)]!);
    const whole = await T.mixCubes(T.fromArray(data, shape), source, 2).toArray();
    const previous = capBindingBytes(4096 + 64);
    try {
      expect(Array.from(await T.mixCubes(T.fromArray(data, shape), source, 2).toArray())).toEqual(Array.from(whole));
    } finally {
      capBindingBytes(previous);
    }
  });
});
