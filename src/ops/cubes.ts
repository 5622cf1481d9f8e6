import { engine } from '../gpu/engine.js';
import { grid } from '../gpu/grid.js';
import { Tensor } from '../tensor/tensor.js';
import { fromArray, randn } from '../tensor/create.js';
import { TakError, show } from '../util/errors.js';
import { defineOp } from './registry.js';
import { permute, reshape, stridedCopy } from './shape.js';
import { contiguousStrides } from './broadcast.js';

/**
 * MagicNet's two cube manipulations (method-spec §3), on [B, C, D, H, W] tensors whose spatial
 * dims are n cubes each:
 * - cross-image mixing: image b of the result takes cube c from image source[b][c] (an
 *   independent batch permutation per cube position); its inverse restores the batch;
 * - within-image partition: the n³ cubes of each image become a batch of n³ images, in list
 *   order k = n²·x + n·y + z over (D, H, W) cube indices; `assembleCubes` puts cube k back at
 *   cell (x, y, z) — the correct inverse (upstream's unmix_tensor swaps x and z; not copied).
 */

const WG = 64;

/** Inverse of per-position batch permutations: inverse[source[b][c]][c] = b. */
export function invertCubePermutation(source: Int32Array, batch: number, cubes: number): Int32Array {
  const inverse = new Int32Array(source.length).fill(-1);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < cubes; c++) {
      const from = source[b * cubes + c]!;
      if (from < 0 || from >= batch || inverse[from * cubes + c] !== -1) {
        throw new TakError(`cube permutation: position ${c} does not permute the ${batch} images (${show([...source.slice(c, c + 1)])})`);
      }
      inverse[from * cubes + c] = b;
    }
  }
  return inverse;
}

function mix(x: Tensor, source: Int32Array, n: number): Tensor {
  const [batch, channels, d, h, w] = x.shape as [number, number, number, number, number];
  const edge = d / n;
  const out = Tensor.empty(x.shape, 'f32');
  const e = engine();
  if (x.binding.size > e.maxBindingBytes) {
    // Over the binding limit: one strided copy per output cube (each binds one image's window).
    const strides = contiguousStrides(x.shape);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < n ** 3; c++) {
        const corner = [Math.floor(c / (n * n)), Math.floor(c / n) % n, c % n].reduce((o, k, axis) => o + k * edge * strides[axis + 2]!, 0);
        const from = source[b * n ** 3 + c]! * strides[0]! + corner;
        stridedCopy(x, from, strides.slice(1), out, b * strides[0]! + corner, strides.slice(1), [channels, edge, edge, edge]);
      }
    }
    return out;
  }
  const perm = fromArray(source, [source.length], 'i32');
  const kernel = e.kernel({ file: 'cube_mix', constants: { VEC: edge % 4 === 0, WG } });
  e.dispatch(kernel, { x: x.binding, source: perm.binding, y: out.binding }, { batch, channels, d, h, w, edge, n }, grid(Math.ceil(out.size / 4 / WG)));
  perm.dispose();
  return out;
}

/** Cross-image cube mixing; `source` is [B, n³] (row-major), each column a permutation of 0..B-1. */
export const mixCubes: (x: Tensor, source: Int32Array, n: number) => Tensor = defineOp({
  name: 'mix_cubes',
  family: 'cubes',
  forward: (x: Tensor, source: Int32Array, n: number) => {
    if (x.ndim !== 5 || x.shape.slice(2).some((s) => s % n !== 0) || x.dtype !== 'f32') {
      throw new TakError(`mixCubes needs an f32 [B, C, D, H, W] tensor whose D, H, W are multiples of ${n}; got ${x.dtype}${show([...x.shape])}`);
    }
    const batch = x.shape[0]!;
    const cubes = n ** 3;
    if (source.length !== batch * cubes) throw new TakError(`mixCubes: source has ${source.length} entries, expected ${batch}·${cubes}`);
    const inverse = invertCubePermutation(source, batch, cubes);
    return { out: mix(x, source, n), inputs: [x], vjp: (g) => [mix(g, inverse, n)] };
  },
  gradcheck: [
    {
      label: '3x2x4x4x4, 2 cubes per axis',
      inputs: () => [randn([3, 2, 4, 4, 4])],
      fn: (x) => mixCubes(x, Int32Array.from({ length: 24 }, (_, i) => [2, 0, 1, 1, 2, 0, 0, 1, 2][(i % 8 + Math.floor(i / 8) * 3) % 9]!), 2),
    },
  ],
});

/** [B, C, n·s, n·s, n·s] → [B·n³, C, s, s, s], cube k = n²x + ny + z of image b at row b·n³ + k. */
export function partitionCubes(x: Tensor, n: number): Tensor {
  const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
  if (x.ndim !== 5 || d % n || h % n || w % n) throw new TakError(`partitionCubes: ${show([...x.shape])} is not a [B, C, D, H, W] grid of ${n}³ cubes`);
  const [sd, sh, sw] = [d / n, h / n, w / n];
  const grid6 = reshape(x, [b, c, n, sd, n, sh, n, sw]);
  const moved = permute(grid6, [0, 2, 4, 6, 1, 3, 5, 7]);
  const out = reshape(moved, [b * n * n * n, c, sd, sh, sw]);
  grid6.dispose();
  moved.dispose();
  return out;
}

/** Inverse of partitionCubes: [B·n³, C, s, s, s] → [B, C, n·s, n·s, n·s]. */
export function assembleCubes(cubes: Tensor, n: number): Tensor {
  const [bn, c, sd, sh, sw] = cubes.shape as [number, number, number, number, number];
  const count = n ** 3;
  if (cubes.ndim !== 5 || bn % count) throw new TakError(`assembleCubes: ${show([...cubes.shape])} is not a batch of ${count}-cube groups`);
  const b = bn / count;
  const grid6 = reshape(cubes, [b, n, n, n, c, sd, sh, sw]);
  const moved = permute(grid6, [0, 4, 1, 5, 2, 6, 3, 7]);
  const out = reshape(moved, [b, c, n * sd, n * sh, n * sw]);
  grid6.dispose();
  moved.dispose();
  return out;
}
