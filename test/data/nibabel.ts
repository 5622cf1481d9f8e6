import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Debian's nibabel as an independent reference reader (data-and-text.md §2: it runs with
 * /usr/bin/python3 and Debian's numpy; the pyenv python3 has a numpy nibabel 5.0 cannot use).
 */
const PYTHON = '/usr/bin/python3';

export const nibabelMissingReason: string | null = (() => {
  if (!existsSync(PYTHON)) return `${PYTHON} is absent (apt-get install python3-nibabel)`;
  const probe = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `nibabel does not import with ${PYTHON} (apt-get install python3-nibabel)`;
})();

export interface NibabelView {
  shape: number[];
  affine: number[][];
  /** get_fdata() at the requested (i, j, k[, t]) indices */
  values: number[];
  /** sum of get_fdata() over the whole array */
  sum: number;
  dtype: string;
}

/** Loads `path` with nibabel and returns shape, affine, chosen voxel values and the sum. */
export function nibabelView(path: string, indices: number[][]): NibabelView {
  const script = `
import json, sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
data = img.get_fdata()
idx = json.loads(sys.argv[2])
print(json.dumps({"shape": list(img.shape), "affine": img.affine.tolist(),
  "values": [float(data[tuple(i)]) for i in idx], "sum": float(data.sum()), "dtype": str(img.get_data_dtype())}))
`;
  const out = execFileSync(PYTHON, ['-c', script, path, JSON.stringify(indices)], { encoding: 'utf8' });
  return JSON.parse(out) as NibabelView;
}

if (nibabelMissingReason) console.warn(`nibabel comparisons skipped: ${nibabelMissingReason}`);
