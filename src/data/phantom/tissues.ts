/**
 * The phantom's tissues: what a voxel is made of (finer than the label classes: a kidney has
 * cortex, medulla and sinus fat; a stomach has wall, contents and gas). Each tissue has a
 * portal-venous-phase CT number, a texture amplitude, whether it enhances with contrast, and
 * the organ (class key, classes.ts) it belongs to — null for unlabelled tissue.
 *
 * HU values: typical portal-venous abdominal CT (liver 100–120, spleen ~120, kidney cortex
 * 150–200, aorta 150–200, fat −100, muscle ~50, bile/urine ~0–15).
 */
export interface Tissue {
  name: string;
  hu: number;
  /** ± HU of the tissue's own texture (fine value noise) */
  texture: number;
  /** scaled with the case's contrast strength */
  enhancing: boolean;
  organ: string | null;
}

const t = (name: string, hu: number, texture: number, enhancing: boolean, organ: string | null = null): Tissue => ({ name, hu, texture, enhancing, organ });

export const TISSUES = [
  t('air', -1000, 0, false),
  t('fat', -100, 12, false),
  t('visceral fat', -95, 15, false),
  t('muscle', 50, 8, false),
  t('lung', -850, 40, false),
  t('heart', 140, 10, true),
  t('bowel', 35, 25, true),
  t('bowel gas', -950, 30, false),
  t('colon', 10, 60, false),
  t('bone', 650, 120, false),
  t('cancellous bone', 230, 60, false),
  t('disc', 80, 10, false),
  t('spinal canal', 15, 5, false),
  t('liver', 110, 8, true, 'liver'),
  t('hepatic vein', 155, 8, true, 'liver'),
  t('spleen', 120, 8, true, 'spleen'),
  t('right kidney cortex', 185, 10, true, 'right_kidney'),
  t('right kidney medulla', 125, 10, true, 'right_kidney'),
  t('left kidney cortex', 185, 10, true, 'left_kidney'),
  t('left kidney medulla', 125, 10, true, 'left_kidney'),
  t('renal sinus fat', -70, 25, false),
  t('right adrenal', 55, 8, true, 'right_adrenal_gland'),
  t('left adrenal', 55, 8, true, 'left_adrenal_gland'),
  t('pancreas', 95, 18, true, 'pancreas'),
  t('stomach wall', 75, 8, true, 'stomach'),
  t('stomach contents', 20, 30, false, 'stomach'),
  t('stomach gas', -950, 30, false, 'stomach'),
  t('duodenum wall', 75, 8, true, 'duodenum'),
  t('duodenum contents', 25, 15, false, 'duodenum'),
  t('gallbladder', 12, 5, false, 'gallbladder'),
  t('esophagus', 45, 8, true, 'esophagus'),
  t('esophageal lumen', -850, 30, false, 'esophagus'),
  t('aorta', 185, 8, true, 'aorta'),
  t('ivc', 140, 10, true, 'inferior_vena_cava'),
  t('portal vein', 170, 8, true, 'portal_splenic_vein'),
  t('splenic vein', 160, 8, true, 'portal_splenic_vein'),
  t('other vessel', 160, 8, true),
  t('bladder', 8, 4, false, 'bladder'),
  t('prostate', 45, 8, true, 'prostate_uterus'),
  t('uterus', 90, 10, true, 'prostate_uterus'),
] as const satisfies readonly Tissue[];

export type TissueName = (typeof TISSUES)[number]['name'];

/** Tissue id (index into TISSUES) of a tissue name. */
export const tissueId = Object.fromEntries(TISSUES.map((tissue, i) => [tissue.name, i])) as Record<TissueName, number>;
