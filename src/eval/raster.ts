import { PNG } from 'pngjs';
import type { Rgb } from './colors.js';
import { drawText } from './font.js';

/** An RGB picture being drawn, encoded to PNG at the end. */
export class Raster {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [0, 0, 0],
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  set(x: number, y: number, [r, g, b]: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = 3 * (y * this.width + x);
    this.pixels[o] = r;
    this.pixels[o + 1] = g;
    this.pixels[o + 2] = b;
  }

  fillRect(x0: number, y0: number, w: number, h: number, color: Rgb): void {
    for (let y = Math.max(0, y0); y < Math.min(this.height, y0 + h); y++) for (let x = Math.max(0, x0); x < Math.min(this.width, x0 + w); x++) this.set(x, y, color);
  }

  /** Text with a one-pixel dark outline, legible on any background. */
  text(text: string, x: number, y: number, scale: number, color: Rgb = [255, 255, 255]): void {
    const outline: Rgb = [0, 0, 0];
    for (const [dx, dy] of [[-1, 0], [1, 0], [0, -1], [0, 1]] as const) drawText(text, x + dx, y + dy, scale, (px, py) => this.set(px, py, outline));
    drawText(text, x, y, scale, (px, py) => this.set(px, py, color));
  }

  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height, colorType: 2 });
    for (let i = 0, o = 0; i < this.pixels.length; i += 3, o += 4) {
      png.data[o] = this.pixels[i]!;
      png.data[o + 1] = this.pixels[i + 1]!;
      png.data[o + 2] = this.pixels[i + 2]!;
      png.data[o + 3] = 255;
    }
    return PNG.sync.write(png, { colorType: 2 });
  }
}
