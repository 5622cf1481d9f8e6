import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/data/volume.js';
import { classColor } from '../../src/eval/colors.js';
import { renderLabelViews, renderSliceOverlay } from '../../src/eval/render.js';

/**
 * A label volume in RAS+ order with the liver (6) only in the patient's right, anterior, superior
 * octant and the spleen (1) in the left, posterior, inferior one; pictures must show them where a
 * radiologist expects them.
 */
const dims: Vec3 = [20, 16, 12];
const labels = new Uint8Array(20 * 16 * 12);
for (let z = 0; z < 12; z++) for (let y = 0; y < 16; y++) for (let x = 0; x < 20; x++) {
  const i = x + 20 * (y + 16 * z);
  if (x >= 12 && y >= 10 && z >= 7) labels[i] = 6;
  if (x < 6 && y < 5 && z < 4) labels[i] = 1;
}
const image = new Float32Array(labels.length).fill(40);

/** Which horizontal / vertical half of the picture area a class colour appears in. */
function whereIs(png: Buffer, key: string): { left: boolean; top: boolean } {
  const decoded = PNG.sync.read(png);
  const [r, g, b] = classColor(key);
  let sx = 0, sy = 0, n = 0;
  // the picture area (rendered without legend): inside the 22 px margin of render.ts
  for (let y = 22; y < decoded.height - 22; y++) for (let x = 22; x < decoded.width - 22; x++) {
    const o = 4 * (y * decoded.width + x);
    // shaded or blended colours keep the hue: compare normalised channels
    const [pr, pg, pb] = [decoded.data[o]!, decoded.data[o + 1]!, decoded.data[o + 2]!];
    const s = pr + pg + pb;
    if (s < 60) continue;
    if (Math.abs(pr / s - r / (r + g + b)) < 0.04 && Math.abs(pg / s - g / (r + g + b)) < 0.04 && Math.abs(pb / s - b / (r + g + b)) < 0.04) {
      sx += x;
      sy += y;
      n++;
    }
  }
  expect(n).toBeGreaterThan(20);
  return { left: sx / n < decoded.width / 2, top: sy / n < decoded.height / 2 };
}

describe('pictures', () => {
  const spacing: Vec3 = [1, 1.25, 2];
  const views = Object.fromEntries(renderLabelViews(labels, dims, spacing, { dataset: 'amos', views: ['anterior', 'left', 'superior'], size: 200, legend: false }).map((v) => [v.name, v.png]));

  it('anterior view: patient right on the picture left, superior up', () => {
    expect(whereIs(views.anterior!, 'liver')).toEqual({ left: true, top: true });
    expect(whereIs(views.anterior!, 'spleen')).toEqual({ left: false, top: false });
  });
  it('left view: anterior on the picture left, superior up', () => {
    expect(whereIs(views.left!, 'liver')).toEqual({ left: true, top: true });
  });
  it('superior view: patient right on the picture right, anterior up', () => {
    expect(whereIs(views.superior!, 'liver')).toEqual({ left: false, top: true });
  });
  it('axial slice: radiological (patient right on the left, anterior up)', () => {
    const png = renderSliceOverlay(image, labels, dims, spacing, { dataset: 'amos', plane: 'axial', index: 9, size: 200, legend: false });
    expect(whereIs(png, 'liver')).toEqual({ left: true, top: true });
  });
  it('keeps physical proportions: a 20 × 24 mm coronal field becomes a taller-than-wide picture', () => {
    const png = PNG.sync.read(renderSliceOverlay(image, labels, dims, spacing, { dataset: 'amos', plane: 'coronal', index: 12, size: 120, legend: false }));
    // picture area 100 × 120 px (20 mm × 24 mm) plus 22 px margins
    expect([png.width, png.height]).toEqual([100 + 44, 120 + 44]);
  });
  it('refuses a slice outside the volume', () => {
    expect(() => renderSliceOverlay(image, labels, dims, spacing, { dataset: 'amos', plane: 'sagittal', index: 20 })).toThrow(/sagittal slice 20 is outside the volume \(0\.\.19\)/);
  });
});
