/**
 * Display colours per organ (by class key, so AMOS and Synapse show an organ the same way),
 * close to the conventions of AMOS/BTCV figures; distinct enough to tell neighbours apart.
 */
export type Rgb = [number, number, number];

const BY_KEY: Record<string, Rgb> = {
  spleen: [220, 50, 50],
  right_kidney: [60, 180, 75],
  left_kidney: [40, 120, 230],
  gallbladder: [255, 225, 25],
  esophagus: [70, 240, 240],
  liver: [200, 80, 200],
  stomach: [245, 130, 48],
  aorta: [145, 30, 180],
  inferior_vena_cava: [0, 128, 255],
  portal_splenic_vein: [0, 200, 160],
  pancreas: [250, 120, 170],
  right_adrenal_gland: [170, 255, 60],
  left_adrenal_gland: [255, 255, 160],
  duodenum: [170, 110, 40],
  bladder: [190, 190, 255],
  prostate_uterus: [255, 160, 120],
};

export function classColor(key: string): Rgb {
  return BY_KEY[key] ?? [200, 200, 200];
}
