import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { classCount, type DatasetKind } from '../data/classes.js';
import { caseIdFromFile, type CaseRef } from '../data/datasets.js';
import { prepareCase, readCaseBytes, type PreprocessOptions } from '../data/preprocess.js';
import { TakError } from '../util/errors.js';
import type { TakNet } from '../models/tak-net.js';
import type { Tensor } from '../tensor/tensor.js';
import { segmentCase } from './network-inference.js';
import { writePrediction } from './prediction-io.js';
import type { SlidingWindowOptions } from './sliding-window.js';

/** The NIfTI (or _image.npy) images of a folder, as unlabelled cases. */
export function imagesIn(dir: string): CaseRef[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TakError(`-i ${dir} is not a folder of images`);
  const files = readdirSync(dir).filter((f) => /\.nii(\.gz)?$|_image\.npy$/.test(f)).sort();
  if (files.length === 0) throw new TakError(`${dir} holds no .nii, .nii.gz or *_image.npy files`);
  return files.map((f) => ({ id: caseIdFromFile(f), image: join(dir, f), label: null, format: f.endsWith('.npy') ? 'npy' : 'nifti', modality: 'CT', subset: 'test' }));
}

/**
 * Segments every image of `inputDir` and writes `<outputDir>/<id>.nii.gz`: uint8 label maps in
 * each input's own grid and affine (prediction-io.ts), through temp files and renames.
 */
export async function predictFolder(
  net: TakNet, textRows: Tensor | null, inputDir: string, outputDir: string,
  options: { dataset: DatasetKind; preprocess: PreprocessOptions; window: Omit<SlidingWindowOptions, 'patch'>; log: (line: string) => void },
): Promise<string[]> {
  if (net.config.classes !== classCount(options.dataset)) throw new TakError(`the network predicts ${net.config.classes} classes but ${options.dataset} has ${classCount(options.dataset)}`);
  const written: string[] = [];
  for (const ref of imagesIn(inputDir)) {
    const started = Date.now();
    const prepared = prepareCase(ref, readCaseBytes(ref), options.dataset, options.preprocess);
    const labels = await segmentCase(net, textRows, prepared, options.window);
    const path = join(outputDir, `${ref.id}.nii.gz`);
    writePrediction(path, prepared, labels);
    written.push(path);
    options.log(`${ref.id}: ${prepared.dims.join('×')} voxels in ${((Date.now() - started) / 1000).toFixed(1)} s → ${path}`);
  }
  return written;
}
