import type { Affine } from './volume.js';

/**
 * NIfTI's two spatial transforms and the choice between them, following nibabel 5
 * (`Nifti1Header.get_best_affine`, `get_qform`, `set_qform`) so a volume gets the same affine here
 * as in nibabel — the reference other tools (nnU-Net, MONAI) load AMOS with.
 */

export interface QformParams {
  quaternBCD: [number, number, number];
  offset: [number, number, number];
  /** pixdim[1..3] */
  zooms: [number, number, number];
  /** pixdim[0]; nibabel treats anything other than -1 as +1 */
  qfac: number;
}

/**
 * nibabel's precedence: the sform when sform_code > 0, else the qform when qform_code > 0, else
 * Analyze's fallback (x flipped, origin at the volume centre). nifti-reader-js prefers the qform
 * when qform_code > sform_code > 0 (data-and-text.md §5c), so its `affine` is not used.
 */
export function bestAffine(
  sformCode: number,
  srows: number[][],
  qformCode: number,
  qform: QformParams,
  shape: readonly number[],
): Affine {
  if (sformCode > 0) return [...srows.map((row) => [...row]), [0, 0, 0, 1]];
  if (qformCode > 0) return qformAffine(qform);
  return fallbackAffine(shape, qform.zooms);
}

/** The qform as a 4×4 affine: R(quaternion) · diag(zooms with qfac on z) + offset. */
function qformAffine({ quaternBCD: [b, c, d], offset, zooms, qfac }: QformParams): Affine {
  let w2 = 1 - (b * b + c * c + d * d);
  // Stored as float32, a unit quaternion can come out a hair over 1 (nibabel's threshold).
  if (w2 < 0 && w2 > -3 * 1.1920929e-7) w2 = 0;
  let [qb, qc, qd] = [b, c, d];
  if (w2 < 0) {
    // Not a rotation: renormalise like nifti1_io's nifti_quatern_to_mat44 does.
    const n = Math.sqrt(b * b + c * c + d * d);
    [qb, qc, qd] = [b / n, c / n, d / n];
    w2 = 0;
  }
  const a = Math.sqrt(w2);
  const r = [
    [a * a + qb * qb - qc * qc - qd * qd, 2 * (qb * qc - a * qd), 2 * (qb * qd + a * qc)],
    [2 * (qb * qc + a * qd), a * a + qc * qc - qb * qb - qd * qd, 2 * (qc * qd - a * qb)],
    [2 * (qb * qd - a * qc), 2 * (qc * qd + a * qb), a * a + qd * qd - qc * qc - qb * qb],
  ];
  const z = [Math.abs(zooms[0]), Math.abs(zooms[1]), Math.abs(zooms[2]) * (qfac === -1 ? -1 : 1)];
  return [
    [r[0]![0]! * z[0]!, r[0]![1]! * z[1]!, r[0]![2]! * z[2]!, offset[0]],
    [r[1]![0]! * z[0]!, r[1]![1]! * z[1]!, r[1]![2]! * z[2]!, offset[1]],
    [r[2]![0]! * z[0]!, r[2]![1]! * z[1]!, r[2]![2]! * z[2]!, offset[2]],
    [0, 0, 0, 1],
  ];
}

/** nibabel's `shape_zoom_affine(shape, zooms, x_flip=True)`, used when neither form is set. */
function fallbackAffine(shape: readonly number[], zooms: readonly number[]): Affine {
  const s = [0, 1, 2].map((i) => shape[i] ?? 1);
  const z = [0, 1, 2].map((i) => zooms[i] || 1);
  z[0] = -z[0]!;
  const origin = s.map((n) => (n - 1) / 2);
  return [
    [z[0]!, 0, 0, -origin[0]! * z[0]!],
    [0, z[1]!, 0, -origin[1]! * z[1]!],
    [0, 0, z[2]!, -origin[2]! * z[2]!],
    [0, 0, 0, 1],
  ];
}

/**
 * The qform that represents `affine` (nibabel `set_qform`), or null when the affine has shear or
 * unequal column directions a quaternion cannot hold — then only the sform is written.
 */
export function qformFromAffine(affine: Affine): QformParams | null {
  const m = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]!));
  const zooms = [0, 1, 2].map((c) => Math.hypot(m[0]![c]!, m[1]![c]!, m[2]![c]!)) as [number, number, number];
  if (zooms.some((z) => z === 0)) return null;
  const r = m.map((row) => row.map((v, c) => v / zooms[c]!));
  const det =
    r[0]![0]! * (r[1]![1]! * r[2]![2]! - r[1]![2]! * r[2]![1]!) -
    r[0]![1]! * (r[1]![0]! * r[2]![2]! - r[1]![2]! * r[2]![0]!) +
    r[0]![2]! * (r[1]![0]! * r[2]![1]! - r[1]![1]! * r[2]![0]!);
  const qfac = det > 0 ? 1 : -1;
  if (qfac < 0) for (const row of r) row[2] = -row[2]!;
  // Orthonormal columns are required; tolerate float32 rounding of stored affines.
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      const dot = r[0]![i]! * r[0]![j]! + r[1]![i]! * r[1]![j]! + r[2]![i]! * r[2]![j]!;
      if (Math.abs(dot - (i === j ? 1 : 0)) > 1e-4) return null;
    }
  }
  return { quaternBCD: rotationToQuaternionBCD(r), offset: [affine[0]![3]!, affine[1]![3]!, affine[2]![3]!], zooms, qfac };
}

/** (b, c, d) of the unit quaternion of rotation matrix r, with a ≥ 0 (Shepperd's method). */
function rotationToQuaternionBCD(r: number[][]): [number, number, number] {
  const [m00, m01, m02] = r[0]!;
  const [m10, m11, m12] = r[1]!;
  const [m20, m21, m22] = r[2]!;
  const trace = m00! + m11! + m22!;
  let a: number, b: number, c: number, d: number;
  if (trace > 0) {
    const s = 2 * Math.sqrt(1 + trace);
    a = s / 4;
    b = (m21! - m12!) / s;
    c = (m02! - m20!) / s;
    d = (m10! - m01!) / s;
  } else if (m00! > m11! && m00! > m22!) {
    const s = 2 * Math.sqrt(1 + m00! - m11! - m22!);
    a = (m21! - m12!) / s;
    b = s / 4;
    c = (m01! + m10!) / s;
    d = (m02! + m20!) / s;
  } else if (m11! > m22!) {
    const s = 2 * Math.sqrt(1 + m11! - m00! - m22!);
    a = (m02! - m20!) / s;
    b = (m01! + m10!) / s;
    c = s / 4;
    d = (m12! + m21!) / s;
  } else {
    const s = 2 * Math.sqrt(1 + m22! - m00! - m11!);
    a = (m10! - m01!) / s;
    b = (m02! + m20!) / s;
    c = (m12! + m21!) / s;
    d = s / 4;
  }
  return a < 0 ? [-b, -c, -d] : [b, c, d];
}
