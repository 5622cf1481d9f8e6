import { backward, noGrad } from '../autograd/graph.js';
import type { Batch } from '../data/batch-maker.js';
import { assembleCubes, invertCubePermutation, mixCubes, partitionCubes } from '../ops/cubes.js';
import { contrastiveStageLoss } from '../ops/contrastive.js';
import { add, clamp, gt, mul, sub, where } from '../ops/elementwise.js';
import { crossEntropy, gaCrossEntropy, gaDiceLoss } from '../ops/losses.js';
import { indexSelect } from '../ops/gather.js';
import { argmax } from '../ops/reduce.js';
import { concat, reshape, slice } from '../ops/shape.js';
import { softmax, voxelEntropy } from '../ops/softmax.js';
import { fromArray, full, randn } from '../tensor/create.js';
import { Tensor, asyncScope } from '../tensor/tensor.js';
import { Rng } from '../util/random.js';
import { deep, type Deep, type TakNet, type TextEmbeddings } from '../models/tak-net.js';
import type { Features } from '../models/vnet.js';
import type { Sgd } from '../nn/optim.js';
import type { ClassDistribution } from './class-distribution.js';
import type { TrainConfig } from './config.js';
import { consistencyWeight, contrastActive, emaAlpha, entropyThreshold, polyLr } from './schedules.js';

/**
 * One iteration of TAK-Semi's training (train_AMOS_MagicNet_GA_TAK.py; method-spec §3–§8), on a
 * batch of L labelled then U unlabelled P³ crops:
 *  1. student on the batch;
 *  2. cross-image cube mixing: encoder on the mixed batch, features and decoder output recovered;
 *  3. teacher (EMA) on the noisy unlabelled crops → pseudo-labels and entropy;
 *  4. supervised GA-CE + GA-Dice (plain and recovered outputs);
 *  5. within-image partition: every image's n³ cubes through the encoder, cube-location loss;
 *  6. labelled cubes decoded and reassembled (correctly: upstream's unmix_tensor transposes x and z)
 *     → GA-Dice;
 *  7. from iteration `blendFromIter`, teacher decoder + head on the student's unlabelled cube
 *     features, blended with the teacher output by the class-distribution weights;
 *  8. consistency GA-Dice of the recovered output against the (blended) pseudo-labels;
 *  9. after `contrastStartEpoch`, the cross-modal SupCon over three encoder stages of 12 maps;
 * 10. backward, SGD step, EMA update, poly learning rate.
 * Randomness comes from (seed, iteration) only, so a resumed run repeats an uninterrupted one.
 */
export interface StepContext {
  config: TrainConfig;
  student: TakNet;
  teacher: TakNet;
  /** Text rows [2C, D] ([shape_0..C−1, position_0..C−1]), or null without the text head. */
  textRows: Tensor | null;
  optimizer: Sgd;
  distribution: ClassDistribution;
  classes: number;
}

export interface StepLosses {
  loss: number;
  supervised: number;
  location: number;
  consistency: number;
  contrast: number;
  lambdaU: number;
  lambdaC: number;
  lr: number;
  contrastActive: boolean;
  blended: boolean;
}

/** A random permutation of the batch for every cube position: source[b·n³ + c] (argsort of uniforms). */
export function cubePermutation(rng: Rng, batch: number, cubes: number): Int32Array {
  const source = new Int32Array(batch * cubes);
  for (let c = 0; c < cubes; c++) {
    const perm = rng.permutation(batch);
    for (let b = 0; b < batch; b++) source[b * cubes + c] = perm[b]!;
  }
  return source;
}

/** Location targets for partitionCubes' list order k = n²x + ny + z: upstream's x + n·y + n²·z. */
export function locationTargets(n: number): Int32Array {
  const out = new Int32Array(n ** 3);
  for (let x = 0; x < n; x++) for (let y = 0; y < n; y++) for (let z = 0; z < n; z++) out[n * n * x + n * y + z] = x + n * y + n * n * z;
  return out;
}

function rows(t: Tensor, start: number, end: number): Tensor {
  return slice(t, [[start, end]]);
}

function assembleDeep(cubes: Deep, n: number): Deep {
  return [assembleCubes(cubes[0], n), assembleCubes(cubes[1], n), assembleCubes(cubes[2], n)];
}

function concatDeep(parts: Deep[]): Deep {
  return [0, 1, 2].map((i) => concat(parts.map((p) => p[i]!), 0)) as Deep;
}

/** Voxel counts of each class in an i32 label map (read back; small next to the iteration). */
async function classCounts(labels: Tensor, classes: number): Promise<Float64Array> {
  const values = (await labels.toArray()) as Int32Array;
  const counts = new Float64Array(classes);
  for (const v of values) counts[v]!++;
  return counts;
}

export async function takStep(ctx: StepContext, batch: Batch, iteration: number, epoch: number): Promise<StepLosses> {
  const { config, student, teacher, classes } = ctx;
  const P = batch.patch;
  const B = batch.size;
  const L = batch.labeledCount;
  const n = config.cubes;
  const cubes = n ** 3;
  const rng = new Rng(config.seed).fork(iteration);
  const doContrast = config.contrast && contrastActive(epoch, config.contrastStartEpoch);
  const lambdaU = consistencyWeight(epoch, config.consistencyWeight, config.consistencyRampEpochs);
  const lambdaC = doContrast ? config.contrastWeight : 0;
  const blended = iteration > config.blendFromIter;

  const losses = await asyncScope(async () => {
    const x = fromArray(batch.image, [B, 1, P, P, P]);
    const labels = fromArray(Int32Array.from(batch.label), [B, P, P, P], 'i32');
    const truth = rows(labels, 0, L);
    const text: TextEmbeddings | null = config.text ? student.embedText(ctx.textRows!) : null;

    // 1. The student on the batch.
    const features = student.encode(x);
    const projected = doContrast ? student.project(deep(features)) : null;
    const out = student.head(deep(features), student.decode(features), text);

    // 2. Cross-image partition and recovery.
    const source = cubePermutation(rng, B, cubes);
    const inverse = invertCubePermutation(source, B, cubes);
    const mixedFeatures = student.encode(mixCubes(x, source, n));
    const recovered = deep(mixedFeatures).map((f) => mixCubes(f, inverse, n)) as Deep;
    const projectedMix = doContrast ? (student.project(deep(mixedFeatures)).map((f) => mixCubes(f, inverse, n)) as Deep) : null;
    const outUnmix = student.head(recovered, mixCubes(student.decode(mixedFeatures), inverse, n), text);

    // 3. Teacher pseudo-labels on the unlabelled crops plus clamp(N(0, σ²), ±c) noise.
    const unlabeled = rows(x, L, B);
    const teacherOut = noGrad(() => {
      const noise = clamp(randn(unlabeled.shape, 0, config.noiseStd, { seed: rng.nextU32() }), -config.noiseClip, config.noiseClip);
      return teacher.forward(add(unlabeled, noise), ctx.textRows);
    });
    const teacherSoft = softmax(teacherOut, 1);
    const pseudo = argmax(teacherSoft, 1); // [U, P, P, P] i32
    const entropy = voxelEntropy(teacherSoft, 'probs'); // [U, P, P, P]

    // 4. Supervised terms on the labelled crops.
    const outSoft = softmax(out, 1);
    const unmixSoft = softmax(outUnmix, 1);
    let supervised = add(add(gaCrossEntropy(rows(out, 0, L), truth), gaDiceLoss(rows(outSoft, 0, L), truth)), gaDiceLoss(rows(unmixSoft, 0, L), truth));

    // 5. Within-image partition: cube-location loss for every image (BatchNorm over its n³ cubes).
    const imageCubes = partitionCubes(x, n);
    const targets = fromArray(locationTargets(n), [cubes], 'i32');
    const cubeFeatures: Features[] = [];
    let location: Tensor = full([], 0);
    for (let b = 0; b < B; b++) {
      const f = student.encode(rows(imageCubes, b * cubes, (b + 1) * cubes));
      cubeFeatures.push(f);
      location = add(location, crossEntropy(student.locate(f[4]), targets));
    }
    location = mul(location, 1 / B);

    // 6. Labelled cubes decoded and reassembled, one head per image (GAP of the reassembled features).
    const within = student.head(
      concatDeep(cubeFeatures.slice(0, L).map((f) => assembleDeep(deep(f), n))),
      concat(cubeFeatures.slice(0, L).map((f) => assembleCubes(student.decode(f), n)), 0),
      text,
    );
    supervised = mul(add(supervised, gaDiceLoss(softmax(within, 1), truth)), 1 / 4);

    // 7. Cube-wise pseudo-label blending (no gradient).
    const blend = noGrad(() => {
      if (!blended) return null;
      const weights = fromArray(ctx.distribution.weights(config.tDist));
      const weightMap = reshape(indexSelect(weights, 0, reshape(pseudo, [-1])), [B - L, 1, P, P, P]);
      // Teacher decoder + head on the student's unlabelled cube features, student's class embedding;
      // the head's GAP is per cube, so every cube gets its own dynamic head (get_mix_pl).
      const cubeLogits = cubeFeatures.slice(L).map((f) => assembleCubes(teacher.head(deep(f), teacher.decode(f), text), n));
      const mixed = add(mul(sub(full([], 1), weightMap), teacherOut), mul(weightMap, concat(cubeLogits, 0)));
      const soft = softmax(mixed, 1);
      return { target: argmax(soft, 1), entropy: voxelEntropy(soft, 'probs') };
    });
    const consistencyTarget = blend?.target ?? pseudo;
    ctx.distribution.append(await classCounts(consistencyTarget, classes));
    ctx.distribution.maybeUpdate(iteration, config.classLogInterval);

    // 8. Consistency of the recovered student output with the (blended) pseudo-labels.
    const consistency = gaDiceLoss(rows(unmixSoft, L, B), consistencyTarget);

    // 9. Cross-modal contrastive alignment over x3, x4, x5 (12 maps each, method-spec §7).
    let contrast: Tensor = full([], 0);
    if (doContrast && projected && projectedMix && text) {
      const withinProjected = cubeFeatures.map((f) => assembleDeep(student.project(deep(f)), n));
      const threshold = entropyThreshold(epoch, config.entropyRampEpochs);
      const ignoreUncertain = (label: Tensor, h: Tensor) => where(gt(h, threshold), full([], -1, 'i32'), label);
      // Maps ordered [L orig, L mix, L within, U orig, U mix, U within] (organized_idx upstream).
      const stageLabels = concat(
        [truth, truth, truth, ignoreUncertain(pseudo, entropy), ignoreUncertain(pseudo, entropy), ignoreUncertain(consistencyTarget, blend?.entropy ?? entropy)],
        0,
      );
      const textLabels = Int32Array.from({ length: 2 * classes }, (_, i) => i % classes);
      for (let s = 0; s < 3; s++) {
        const maps = concat(
          [
            rows(projected[s]!, 0, L), rows(projectedMix[s]!, 0, L), concat(withinProjected.slice(0, L).map((w) => w[s]!), 0),
            rows(projected[s]!, L, B), rows(projectedMix[s]!, L, B), concat(withinProjected.slice(L).map((w) => w[s]!), 0),
          ],
          0,
        );
        const perClass = config.contrastSamples * [4, 2, 1][s]!;
        const stage = await contrastiveStageLoss(maps, stageLabels, text.anchors[s]!, textLabels, perClass, rng, { temperature: config.temperature });
        contrast = add(contrast, stage);
      }
    }

    // 10. Total loss, backward, optimiser, EMA.
    const total = add(add(add(supervised, mul(location, config.locationWeight)), mul(consistency, lambdaU)), mul(contrast, lambdaC));
    backward(total);
    const values = await Promise.all([total, supervised, location, consistency, contrast].map((t) => t.item()));
    return values;
  });

  const lr = ctx.optimizer.lr;
  ctx.optimizer.step({ targets: teacher.namedParameters(), alpha: emaAlpha(iteration, config.emaDecay) });
  ctx.optimizer.zeroGrad();
  ctx.optimizer.lr = polyLr(config.lr, iteration + 1, config.lrDecayIters, config.lrPower);
  const [loss, supervised, location, consistency, contrast] = losses as [number, number, number, number, number];
  return { loss, supervised, location, consistency, contrast, lambdaU, lambdaC, lr, contrastActive: doContrast, blended };
}
