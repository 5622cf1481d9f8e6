import { existsSync } from 'node:fs';

/** Real NIfTI files from Debian packages (data-and-text.md §2); tests skip when one is absent. */
export const NIBABEL_DATA = '/usr/lib/python3/dist-packages/nibabel/tests/data';
export const ITK_DATA = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
export const MRICRON = '/usr/share/mricron/templates';

export const realFiles = {
  anatomicalBigEndian: `${NIBABEL_DATA}/anatomical.nii`,
  functionalScaled: `${NIBABEL_DATA}/functional.nii`,
  nifti2: `${NIBABEL_DATA}/example_nifti2.nii.gz`,
  standardSformOnly: `${NIBABEL_DATA}/standard.nii.gz`,
  example4d: `${NIBABEL_DATA}/example4d.nii.gz`,
  movedBigEndianFloat: `${NIBABEL_DATA}/reoriented_anat_moved.nii`,
  kmeansImage: `${ITK_DATA}/KmeansTest_T1UCharRaw.nii.gz`,
  kmeansLabels: `${ITK_DATA}/KmeansTest_T1KmeansPrelimSegmentation.nii.gz`,
  colinT1: `${MRICRON}/ch2.nii.gz`,
  aalAtlas: `${MRICRON}/aal.nii.gz`,
  aichaAtlas: `${MRICRON}/AICHAmc.nii.gz`,
} as const;

const PACKAGE_OF: [string, string][] = [
  [NIBABEL_DATA, 'python3-nibabel'],
  [ITK_DATA, 'insighttoolkit5-examples'],
  [MRICRON, 'mricron-data'],
];

/** Why a real file cannot be used (printed once), or null when it is there. */
export function missing(path: string): string | null {
  if (existsSync(path)) return null;
  const pkg = PACKAGE_OF.find(([dir]) => path.startsWith(dir))?.[1] ?? 'its Debian package';
  const reason = `${path} is absent: apt-get install ${pkg}`;
  console.warn(`skipped: ${reason}`);
  return reason;
}
