import type { DatasetKind } from '../../data/classes.js';
import { indexDataset } from '../../data/datasets.js';
import { prepareCase, readCaseBytes } from '../../data/preprocess.js';
import { spacingOf } from '../../data/volume.js';
import { renderLabelViews, renderSliceOverlay } from '../../eval/render.js';
import { Rng } from '../../util/random.js';
import { TakError } from '../../util/errors.js';
import type { View } from './views.js';

/**
 * The labelled atlas agent 2 checks claims against (method-spec §9: GPT-4o sees rendered 3-D
 * views with S/L/A orientation marks): for `cases` labelled cases drawn with a seeded generator
 * from `dataDir`, three depth-shaded label renders (anterior, left, superior) and a coronal slice
 * with the label overlay, each with a caption naming the case and view.
 */
export function atlasViews(dataDir: string, dataset: DatasetKind, cases: number, seed: number): View[] {
  const index = indexDataset(dataDir, { dataset });
  const labelled = index.cases.filter((c) => c.label && c.modality === 'CT');
  if (labelled.length === 0) throw new TakError(`${dataDir} has no labelled CT cases to render for the visual check; pass a dataset folder with labelsTr (or RawData/Training/label)`);
  const order = new Rng(seed).permutation(labelled.length);
  const views: View[] = [];
  for (const i of order.slice(0, Math.min(cases, labelled.length))) {
    const ref = labelled[i]!;
    const prepared = prepareCase(ref, readCaseBytes(ref), dataset, { window: 'tak', reorient: true, resample: null });
    const spacing = spacingOf(prepared.affine);
    for (const view of renderLabelViews(prepared.label!, prepared.dims, spacing, { dataset, size: 448 })) {
      views.push({ caption: `Case ${ref.id}: 3-D rendering of the labelled organs seen from the ${view.name} side (orientation letters on the edges; legend lists the colours).`, png: view.png });
    }
    const coronal = renderSliceOverlay(prepared.image, prepared.label, prepared.dims, spacing, { dataset, plane: 'coronal', size: 448 });
    views.push({ caption: `Case ${ref.id}: central coronal CT slice with the organ labels overlaid (patient's right on the picture's left).`, png: coronal });
  }
  return views;
}
