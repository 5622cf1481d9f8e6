import type { DatasetKind } from '../data/classes.js';
import { classesOf } from '../data/classes.js';
import type { Vec3 } from '../data/volume.js';
import { TakError, show } from '../util/errors.js';
import type { Rgb } from './colors.js';
import { classColor } from './colors.js';
import { GLYPH_HEIGHT, textWidth } from './font.js';
import { Raster } from './raster.js';

/**
 * Pictures of label maps and CT slices, as PNG bytes: the atlas views TAK's knowledge generator
 * sends to a multimodal model (method-spec §9: rendered 3-D views with S/L/A orientation marks)
 * and the figures of reports and `tak-wgpu data show`.
 *
 * Volumes are in canonical RAS+ voxel order (orientation.ts): index i → patient's Right,
 * j → Anterior, k → Superior. Slices follow radiological convention (axial seen from the feet,
 * patient's right on the picture's left; coronal from the front; sagittal with anterior left).
 */
export const VIEWS = ['anterior', 'posterior', 'left', 'right', 'superior', 'inferior'] as const;
export type ViewName = (typeof VIEWS)[number];
export const PLANES = ['axial', 'coronal', 'sagittal'] as const;
export type Plane = (typeof PLANES)[number];

/** How a picture maps onto the grid: which voxel axis runs along columns/rows, and the depth axis. */
interface Projection {
  col: number;
  colReversed: boolean;
  row: number;
  rowReversed: boolean;
  depth: number;
  /** true when the viewer sits at the high-index end of the depth axis */
  fromHigh: boolean;
}

// Derived from viewer position and "up": picture-right = forward × up (see docs/data.md).
const PROJECTIONS: Record<ViewName, Projection> = {
  anterior: { col: 0, colReversed: true, row: 2, rowReversed: true, depth: 1, fromHigh: true },
  posterior: { col: 0, colReversed: false, row: 2, rowReversed: true, depth: 1, fromHigh: false },
  left: { col: 1, colReversed: true, row: 2, rowReversed: true, depth: 0, fromHigh: false },
  right: { col: 1, colReversed: false, row: 2, rowReversed: true, depth: 0, fromHigh: true },
  superior: { col: 0, colReversed: false, row: 1, rowReversed: true, depth: 2, fromHigh: true },
  inferior: { col: 0, colReversed: true, row: 1, rowReversed: true, depth: 2, fromHigh: false },
};
const PLANE_VIEW: Record<Plane, ViewName> = { axial: 'inferior', coronal: 'anterior', sagittal: 'left' };
const POSITIVE = 'RAS';
const NEGATIVE = 'LPI';

export interface RenderOptions {
  dataset: DatasetKind;
  /** longest side of the picture area in pixels (default 384) */
  size?: number;
  /** draw the colour legend of the classes present (default true) */
  legend?: boolean;
}

export interface RenderedView {
  name: string;
  png: Buffer;
}

/**
 * Depth-shaded surface renders of a label map seen from outside (default: anterior, left,
 * superior): each pixel shows the first labelled voxel along its ray, coloured by class, darker
 * with depth and with surface slope, with orientation letters on the edges and a legend.
 */
export function renderLabelViews(labels: Uint8Array, dims: Vec3, spacing: Vec3, options: RenderOptions & { views?: readonly ViewName[] }): RenderedView[] {
  checkGrid(labels, dims, 'label map');
  return (options.views ?? ['anterior', 'left', 'superior']).map((view) => ({ name: view, png: renderView(labels, dims, spacing, view, options).toPng() }));
}

function renderView(labels: Uint8Array, dims: Vec3, spacing: Vec3, view: ViewName, options: RenderOptions): Raster {
  const p = PROJECTIONS[view];
  const [nc, nr, nd] = [dims[p.col]!, dims[p.row]!, dims[p.depth]!];
  const strides = [1, dims[0], dims[0] * dims[1]];
  // First hit along each ray, at voxel resolution.
  const hit = new Uint8Array(nc * nr);
  const depth = new Float32Array(nc * nr).fill(Infinity);
  for (let r = 0; r < nr; r++) {
    for (let c = 0; c < nc; c++) {
      const base = c * strides[p.col]! + r * strides[p.row]!;
      for (let s = 0; s < nd; s++) {
        const d = p.fromHigh ? nd - 1 - s : s;
        const v = labels[base + d * strides[p.depth]!]!;
        if (v !== 0) {
          hit[r * nc + c] = v;
          depth[r * nc + c] = s * spacing[p.depth]!;
          break;
        }
      }
    }
  }
  const maxDepth = nd * spacing[p.depth]!;
  const colors = classColors(options.dataset);
  // Slopes come from a 3×3-smoothed depth map: raw depths step by whole (often 5 mm) slices,
  // which would shade every step as a dark contour ring.
  const smooth = smoothDepth(depth, nc, nr);
  const shade = (c: number, r: number): number => {
    const d = depth[r * nc + c]!;
    const at = (cc: number, rr: number): number => {
      const v = smooth[Math.min(nr - 1, Math.max(0, rr)) * nc + Math.min(nc - 1, Math.max(0, cc))]!;
      return Number.isFinite(v) ? v : smooth[r * nc + c]!;
    };
    // Lambert shading with the light at the viewer: normal from the depth map's slope (mm/mm).
    const gx = (at(c + 1, r) - at(c - 1, r)) / (2 * spacing[p.col]!);
    const gy = (at(c, r + 1) - at(c, r - 1)) / (2 * spacing[p.row]!);
    const facing = 1 / Math.sqrt(1 + gx * gx + gy * gy);
    return (0.3 + 0.7 * facing) * (1 - 0.55 * (d / maxDepth));
  };
  return composePicture(view, p, dims, spacing, options, (c, r) => {
    const v = hit[r * nc + c]!;
    if (v === 0) return [18, 18, 24];
    const k = shade(c, r);
    const color = colors[v] ?? [200, 200, 200];
    return [color[0] * k, color[1] * k, color[2] * k];
  }, presentClasses(labels));
}

/** Mean of the finite depths in each 3×3 neighbourhood (Infinity where the ray hit nothing). */
function smoothDepth(depth: Float32Array, nc: number, nr: number): Float32Array {
  const out = new Float32Array(depth.length).fill(Infinity);
  for (let r = 0; r < nr; r++) {
    for (let c = 0; c < nc; c++) {
      if (!Number.isFinite(depth[r * nc + c]!)) continue;
      let sum = 0, n = 0;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr, cc = c + dc;
          if (rr < 0 || cc < 0 || rr >= nr || cc >= nc) continue;
          const v = depth[rr * nc + cc]!;
          if (Number.isFinite(v)) (sum += v), n++;
        }
      }
      out[r * nc + c] = sum / n;
    }
  }
  return out;
}

export interface SliceOptions extends RenderOptions {
  plane: Plane;
  /** slice index along the plane's normal axis; default: the centroid of the labels, else the middle */
  index?: number;
  /** grey-level window of the image in its own units (default [−160, 240] HU) */
  window?: [number, number];
  /** opacity of the label fill (default 0.4; contours are drawn opaque) */
  alpha?: number;
}

/** One slice of an image (grey) with labels overlaid in colour, orientation letters and a legend. */
export function renderSliceOverlay(image: Float32Array | Int16Array | null, labels: Uint8Array | null, dims: Vec3, spacing: Vec3, options: SliceOptions): Buffer {
  if (!image && !labels) throw new TakError('renderSliceOverlay needs an image, a label map, or both');
  if (image) checkGrid(image, dims, 'image');
  if (labels) checkGrid(labels, dims, 'label map');
  const view = PLANE_VIEW[options.plane];
  const p = PROJECTIONS[view];
  const index = options.index ?? (labels ? labelCentroid(labels, dims)[p.depth]! : Math.floor(dims[p.depth]! / 2));
  if (!(Number.isInteger(index) && index >= 0 && index < dims[p.depth]!)) {
    throw new TakError(`${options.plane} slice ${index} is outside the volume (0..${dims[p.depth]! - 1})`);
  }
  const [lo, hi] = options.window ?? [-160, 240];
  const alpha = options.alpha ?? 0.4;
  const strides = [1, dims[0], dims[0] * dims[1]];
  const at = (c: number, r: number): number => c * strides[p.col]! + r * strides[p.row]! + index * strides[p.depth]!;
  const colors = classColors(options.dataset);
  const [nc, nr] = [dims[p.col]!, dims[p.row]!];
  const raster = composePicture(view, p, dims, spacing, options, (c, r) => {
    const i = at(c, r);
    const g = image ? Math.min(255, Math.max(0, ((image[i]! - lo) / (hi - lo)) * 255)) : 0;
    const v = labels ? labels[i]! : 0;
    if (v === 0) return [g, g, g];
    const color = colors[v] ?? [200, 200, 200];
    const edge = c === 0 || r === 0 || c === nc - 1 || r === nr - 1 || labels![at(c - 1, r)] !== v || labels![at(c + 1, r)] !== v || labels![at(c, r - 1)] !== v || labels![at(c, r + 1)] !== v;
    const a = edge ? 1 : alpha;
    return [g * (1 - a) + color[0] * a, g * (1 - a) + color[1] * a, g * (1 - a) + color[2] * a];
  }, labels ? presentClasses(labels) : [], `${options.plane} ${index}`);
  return raster.toPng();
}

/**
 * Lays out a picture: the voxel-resolution colour function resampled (nearest) to square pixels
 * of physical size, title, orientation letters at the four edges, legend on the right.
 */
function composePicture(
  title: string,
  p: Projection,
  dims: Vec3,
  spacing: Vec3,
  options: RenderOptions,
  colorAt: (col: number, row: number) => Rgb,
  classes: number[],
  subtitle?: string,
): Raster {
  const size = options.size ?? 384;
  const [nc, nr] = [dims[p.col]!, dims[p.row]!];
  const [wMm, hMm] = [nc * spacing[p.col]!, nr * spacing[p.row]!];
  const pixelMm = Math.max(wMm, hMm) / size;
  const width = Math.max(1, Math.round(wMm / pixelMm));
  const height = Math.max(1, Math.round(hMm / pixelMm));
  const margin = 22;
  const legend = options.legend !== false ? legendRows(options.dataset, classes) : [];
  const legendWidth = legend.length ? Math.max(...legend.map((l) => textWidth(l.text, 2))) + 40 : 0;
  const raster = new Raster(width + 2 * margin + legendWidth, Math.max(height + 2 * margin, legend.length * 20 + 2 * margin), [0, 0, 0]);
  for (let y = 0; y < height; y++) {
    const r0 = Math.min(nr - 1, Math.floor(((y + 0.5) * pixelMm) / spacing[p.row]!));
    const r = p.rowReversed ? nr - 1 - r0 : r0;
    for (let x = 0; x < width; x++) {
      const c0 = Math.min(nc - 1, Math.floor(((x + 0.5) * pixelMm) / spacing[p.col]!));
      const c = p.colReversed ? nc - 1 - c0 : c0;
      const [red, green, blue] = colorAt(c, r);
      raster.set(margin + x, margin + y, [Math.round(red), Math.round(green), Math.round(blue)]);
    }
  }
  // Orientation letters: the direction each edge of the picture points to.
  const letter = (axis: number, positive: boolean): string => (positive ? POSITIVE : NEGATIVE)[axis]!;
  const yellow: Rgb = [255, 220, 0];
  const leftLetter = letter(p.col, p.colReversed);
  const rightLetter = letter(p.col, !p.colReversed);
  const topLetter = letter(p.row, p.rowReversed);
  const bottomLetter = letter(p.row, !p.rowReversed);
  const midY = margin + Math.floor(height / 2) - GLYPH_HEIGHT;
  const midX = margin + Math.floor(width / 2) - 5;
  raster.text(leftLetter, 4, midY, 2, yellow);
  raster.text(rightLetter, margin + width + 4, midY, 2, yellow);
  raster.text(topLetter, midX, 4, 2, yellow);
  raster.text(bottomLetter, midX, margin + height + 4, 2, yellow);
  raster.text(subtitle ?? `${title} view`, margin + 4, margin + 4, 2);
  legend.forEach((row, i) => {
    const y = margin + i * 20;
    raster.fillRect(margin + width + 24, y, 12, 12, row.color);
    raster.text(row.text, margin + width + 40, y - 1, 2);
  });
  return raster;
}

function legendRows(dataset: DatasetKind, present: number[]): { text: string; color: Rgb }[] {
  const classes = classesOf(dataset);
  return present.filter((v) => v > 0 && v < classes.length).map((v) => ({ text: `${classes[v]!.abbreviation} ${classes[v]!.key.replace(/_/g, ' ')}`, color: classColor(classes[v]!.key) }));
}

function classColors(dataset: DatasetKind): Rgb[] {
  return classesOf(dataset).map((c) => classColor(c.key));
}

function presentClasses(labels: Uint8Array): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < labels.length; i++) seen[labels[i]!] = 1;
  return [...seen.keys()].filter((v) => seen[v]);
}

/** Voxel coordinates of the centroid of all labelled voxels (rounded), or the centre if none. */
function labelCentroid(labels: Uint8Array, dims: Vec3): Vec3 {
  const [nx, ny] = dims;
  let sx = 0, sy = 0, sz = 0, n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 0) continue;
    sx += i % nx;
    sy += Math.floor(i / nx) % ny;
    sz += Math.floor(i / (nx * ny));
    n++;
  }
  if (n === 0) return dims.map((d) => Math.floor(d / 2)) as Vec3;
  return [Math.round(sx / n), Math.round(sy / n), Math.round(sz / n)];
}

function checkGrid(data: ArrayLike<number>, dims: Vec3, what: string): void {
  if (data.length !== dims[0] * dims[1] * dims[2]) throw new TakError(`${what} has ${data.length} voxels, grid ${show(dims)} needs ${dims[0] * dims[1] * dims[2]}`);
}
