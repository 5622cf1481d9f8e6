import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNifti, niftiToImage, niftiToLabels, readNifti, spatialDims } from '../../src/data/nifti-read.js';
import { encodeNifti1, writeNifti } from '../../src/data/nifti-write.js';
import type { Affine, Vec3 } from '../../src/data/volume.js';
import { TakError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/random.js';
import { missing, realFiles } from './fixtures.js';
import { nibabelMissingReason, nibabelView } from './nibabel.js';

function expectAffineClose(actual: Affine, expected: number[][], tol = 1e-4): void {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(actual[r]![c]!).toBeCloseTo(expected[r]![c]!, -Math.log10(tol));
}

/** Random voxel indices of a shape, in nibabel's (i, j, k, ...) order. */
function randomIndices(shape: number[], n: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => shape.map((s) => rng.int(s)));
}

function flatIndex(index: number[], shape: number[]): number {
  let flat = 0;
  for (let a = shape.length - 1; a >= 0; a--) flat = flat * shape[a]! + index[a]!;
  return flat;
}

/** Compares our decode of `path` with nibabel: shape, affine, voxel values (scaled), sum. */
function compareWithNibabel(path: string): void {
  const file = readNifti(path);
  const indices = randomIndices(file.shape, 40, 7);
  const reference = nibabelView(path, indices);
  expect(file.shape).toEqual(reference.shape);
  expectAffineClose(file.affine, reference.affine);
  const { slope, inter } = file.scaling ?? { slope: 1, inter: 0 };
  const ours = indices.map((i) => file.raw[flatIndex(i, file.shape)]! * slope + inter);
  ours.forEach((v, k) => expect(v).toBeCloseTo(reference.values[k]!, 3));
  let sum = 0;
  for (let i = 0; i < file.raw.length; i++) sum += file.raw[i]! * slope + inter;
  expect(sum / reference.sum).toBeCloseTo(1, 6);
}

describe('NIfTI reader on real files', () => {
  const cases: [string, string, (f: ReturnType<typeof readNifti>) => void][] = [
    ['big-endian int16 (anatomical.nii)', realFiles.anatomicalBigEndian, (f) => {
      expect(f.shape).toEqual([33, 41, 25]);
      expect(f.datatype).toBe('int16');
    }],
    ['scl_slope/scl_inter applied (functional.nii)', realFiles.functionalScaled, (f) => {
      expect(f.shape).toEqual([17, 21, 3, 20]);
      expect(f.scaling!.slope).toBeCloseTo(0.0754, 4);
      expect(f.scaling!.inter).toBeCloseTo(3100.76, 2);
    }],
    ['NIfTI-2 (example_nifti2.nii.gz)', realFiles.nifti2, (f) => {
      expect(f.version).toBe(2);
      expect(f.shape).toEqual([32, 20, 12, 2]);
    }],
    ['sform only, uint8 (standard.nii.gz)', realFiles.standardSformOnly, (f) => {
      expect(f.shape).toEqual([4, 5, 7]);
      expect(f.qformCode).toBe(0);
    }],
    ['big-endian float32 (reoriented_anat_moved.nii)', realFiles.movedBigEndianFloat, (f) => expect(f.datatype).toBe('float32')],
    ['ITK k-means image, qform 2 / sform 1', realFiles.kmeansImage, (f) => expect(f.shape).toEqual([128, 128, 62])],
    ['ITK k-means label map', realFiles.kmeansLabels, (f) => expect(f.datatype).toBe('uint8')],
    ['mricron AICHA atlas', realFiles.aichaAtlas, (f) => expect(f.shape).toEqual([91, 109, 91])],
  ];
  for (const [name, path, specific] of cases) {
    it.skipIf(missing(path))(name, () => {
      const file = readNifti(path);
      specific(file);
      if (!nibabelMissingReason) compareWithNibabel(path);
    });
  }

  it.skipIf(missing(realFiles.kmeansImage) || missing(realFiles.kmeansLabels))('reads the ITK image/label pair on one grid with labels 0..6', () => {
    const image = niftiToImage(readNifti(realFiles.kmeansImage));
    const labels = niftiToLabels(readNifti(realFiles.kmeansLabels));
    expect(labels.dims).toEqual(image.dims);
    expect(labels.affine).toEqual(image.affine);
    const present = new Set(labels.data);
    expect([...present].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it.skipIf(missing(realFiles.colinT1) || missing(realFiles.aalAtlas))('reads the Colin27 template and the AAL atlas (116 regions) on the same grid', () => {
    const t1 = niftiToImage(readNifti(realFiles.colinT1));
    const aal = niftiToLabels(readNifti(realFiles.aalAtlas));
    expect(t1.dims).toEqual([181, 217, 181]);
    expect(aal.dims).toEqual(t1.dims);
    expect(new Set(aal.data).size).toBe(117); // 116 regions + background
    if (!nibabelMissingReason) compareWithNibabel(realFiles.aalAtlas);
  });

  it.skipIf(missing(realFiles.example4d))('refuses a 4-D time series where one volume is expected', () => {
    expect(() => spatialDims(readNifti(realFiles.example4d))).toThrow(/shape \[128, 96, 24, 2\].*single 3-D volume/);
  });
});

describe('NIfTI writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tak-nifti-'));
  // An oblique LPS-like grid: rotated 20° about z, flipped x/y, anisotropic voxels.
  const angle = (20 * Math.PI) / 180;
  const [sx, sy, sz] = [0.8, 0.9, 2.5];
  const oblique: Affine = [
    [-Math.cos(angle) * sx, Math.sin(angle) * sy, 0, 120.5],
    [-Math.sin(angle) * sx, -Math.cos(angle) * sy, 0, 98.25],
    [0, 0, sz, -301],
    [0, 0, 0, 1],
  ];
  const dims: Vec3 = [7, 5, 3];
  const n = 7 * 5 * 3;

  const kinds = [
    ['uint8 labels', new Uint8Array(n).map((_, i) => i % 16), 'uint8'],
    ['int16 CT', new Int16Array(n).map((_, i) => -1024 + 37 * i), 'int16'],
    ['float32 image', new Float32Array(n).map((_, i) => Math.sin(i) * 100.25), 'float32'],
  ] as const;
  for (const [name, data, datatype] of kinds) {
    it(`round-trips ${name} with an oblique affine (ours${nibabelMissingReason ? '' : ' and nibabel'})`, () => {
      const path = join(dir, `${datatype}.nii.gz`);
      writeNifti(path, { dims, affine: oblique, data } as never, { description: `test ${name}` });
      const back = readNifti(path);
      expect(back.shape).toEqual(dims);
      expect(back.datatype).toBe(datatype);
      expect(Array.from(back.raw)).toEqual(Array.from(data));
      expectAffineClose(back.affine, oblique, 1e-5);
      expect(back.description).toBe(`test ${name}`);
      if (!nibabelMissingReason) {
        const ref = nibabelView(path, [[6, 4, 2]]);
        expect(ref.shape).toEqual(dims);
        expectAffineClose(back.affine, ref.affine, 1e-5);
        expect(ref.values[0]).toBeCloseTo(data[n - 1]!, 3);
      }
    });
  }

  it('stores a qform equal to the sform (readers that prefer the qform, like ITK, agree)', () => {
    const bytes = encodeNifti1({ dims, affine: oblique, data: new Uint8Array(n) }, {}, false);
    // Same bytes with sform_code zeroed: the reader must fall back to the qform and get the same affine.
    const qformOnly = bytes.slice();
    new DataView(qformOnly.buffer).setInt16(254, 0, true);
    const file = decodeNifti(qformOnly, 'qform-only');
    expect(file.sformCode).toBe(0);
    expect(file.qformCode).toBe(1);
    expectAffineClose(file.affine, oblique, 1e-5);
  });

  it('writes nothing when the voxel count does not match the grid', () => {
    const path = join(dir, 'bad.nii.gz');
    expect(() => writeNifti(path, { dims: [4, 4, 4], affine: oblique, data: new Uint8Array(10) })).toThrow(/10 voxels do not fill a \[4, 4, 4\] grid/);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad') || f.includes('.tmp'))).toEqual([]);
  });
});

describe('NIfTI reader on bad input', () => {
  const good = encodeNifti1({ dims: [4, 4, 4], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data: new Float32Array(64).fill(2.5) }, {}, false);

  it('names a truncated file and the bytes it needs', () => {
    expect(() => decodeNifti(good.slice(0, 300 + 64), 'cut.nii')).toThrow(/cut\.nii is truncated.*needs 608 bytes.*has 364/);
  });
  it('names a file that is not NIfTI', () => {
    expect(() => decodeNifti(new Uint8Array(400).fill(7), 'notes.nii')).toThrow(/notes\.nii is not a NIfTI-1\/NIfTI-2 file/);
  });
  it('names corrupt gzip', () => {
    const gz = gzipSync(good);
    expect(() => decodeNifti(gz.slice(0, 40), 'half.nii.gz')).toThrow(/half\.nii\.gz looks gzipped but does not decompress/);
  });
  it('names an unsupported datatype', () => {
    const complex = good.slice();
    new DataView(complex.buffer).setInt16(70, 32, true); // complex64
    expect(() => decodeNifti(complex, 'complex.nii')).toThrow(/datatype code 32 is not supported/);
  });
  it('refuses non-integer values in a label map, naming the voxel', () => {
    expect(() => niftiToLabels(decodeNifti(good, 'float-labels.nii'))).toThrow(/float-labels\.nii: voxel \(0, 0, 0\) holds 2\.5, not a label id/);
  });
  it('reports a missing file as a TakError', () => {
    expect(() => readNifti('/nonexistent/case.nii.gz')).toThrow(TakError);
  });
  it('reads scl_slope = 0 as "unscaled" (NIfTI rule)', () => {
    const zeroSlope = good.slice();
    new DataView(zeroSlope.buffer).setFloat32(112, 0, true);
    const image = niftiToImage(decodeNifti(zeroSlope, 'slope0.nii'));
    expect(image.data[5]).toBe(2.5);
  });
  it('applies scl_slope and scl_inter', () => {
    const scaled = good.slice();
    new DataView(scaled.buffer).setFloat32(112, 2, true);
    new DataView(scaled.buffer).setFloat32(116, -1, true);
    expect(niftiToImage(decodeNifti(scaled, 'scaled.nii')).data[5]).toBe(4);
  });
});

