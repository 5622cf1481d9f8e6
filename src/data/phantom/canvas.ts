import type { Shape } from './shapes.js';
import type { PhantomGrid } from './grid.js';

/**
 * The tissue map being painted. Every voxel has a warped world position (the case's smooth
 * deformation applied once, so all organs bend together) and a surface-wobble value; a paint
 * call sets the voxels inside a shape to a tissue, but only where the current tissue is one the
 * call may cover — that is how the liver stops at the diaphragm and kidneys keep their place.
 */
export class Canvas {
  readonly tissue: Uint8Array;
  private readonly allowed = new Uint8Array(256);

  constructor(
    readonly grid: PhantomGrid,
    /** warped world coordinates of every voxel (mm) */
    readonly wx: Float32Array,
    readonly wy: Float32Array,
    readonly wz: Float32Array,
    /** largest |warp| in mm, to widen bounding boxes */
    readonly maxWarp: number,
    /** smooth noise in [−1, 1] that perturbs organ surfaces */
    private readonly wobbleField: Float32Array,
  ) {
    this.tissue = new Uint8Array(grid.dims[0] * grid.dims[1] * grid.dims[2]);
  }

  /**
   * Sets voxels inside `shape` to `tissue` where the current tissue is in `over`. `wobble` scales
   * the surface noise (0.25 ≈ ±12 % of the radius).
   */
  paint(shape: Shape, tissue: number, over: readonly number[], wobble = 0): void {
    this.allowed.fill(0);
    for (const id of over) this.allowed[id] = 1;
    const { dims, spacing, origin } = this.grid;
    const range = (axis: number): [number, number] => {
      const lo = Math.floor((shape.min[axis]! - this.maxWarp - origin[axis]!) / spacing[axis]!);
      const hi = Math.ceil((shape.max[axis]! + this.maxWarp - origin[axis]!) / spacing[axis]!);
      return [Math.max(0, lo), Math.min(dims[axis]! - 1, hi)];
    };
    const [x0, x1] = range(0);
    const [y0, y1] = range(1);
    const [z0, z1] = range(2);
    const [nx, ny] = dims;
    const { tissue: map, allowed, wx, wy, wz, wobbleField } = this;
    for (let z = z0; z <= z1; z++) {
      for (let y = y0; y <= y1; y++) {
        let i = x0 + nx * (y + ny * z);
        for (let x = x0; x <= x1; x++, i++) {
          if (!allowed[map[i]!]) continue;
          if (shape.level(wx[i]!, wy[i]!, wz[i]!) <= 1 + wobble * wobbleField[i]!) map[i] = tissue;
        }
      }
    }
  }

  /** Sets every voxel where `inside(i)` holds and the current tissue is in `over`. */
  paintWhere(inside: (index: number) => boolean, tissue: number, over: readonly number[]): void {
    this.allowed.fill(0);
    for (const id of over) this.allowed[id] = 1;
    const map = this.tissue;
    for (let i = 0; i < map.length; i++) if (this.allowed[map[i]!] && inside(i)) map[i] = tissue;
  }
}
