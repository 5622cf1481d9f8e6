import type { Module } from '../nn/module.js';
import type { TakNetConfig } from './tak-net.js';

/**
 * `tak-wgpu model summary`: parameters per top-level module and the multiply-accumulates of one
 * forward pass of a patch, counted as method-spec §11 does (conv: Cin·Cout·k³ per output voxel;
 * transposed conv: Cin·Cout·8 per input voxel; dynamic heads: classes·136 per voxel).
 */
export interface SummaryRow {
  module: string;
  parameters: number;
  gmac: number;
}

export function parameterRows(model: Module): SummaryRow[] {
  const rows = new Map<string, number>();
  for (const [key, p] of model.namedParameters()) {
    const top = key.split('.')[0]!;
    rows.set(top, (rows.get(top) ?? 0) + p.size);
  }
  return [...rows].map(([module, parameters]) => ({ module, parameters, gmac: 0 }));
}

/** Forward MACs (in units of 10⁹) of each top-level module for one patch. */
export function forwardGmac(config: TakNetConfig): Map<string, number> {
  const f = config.nFilters;
  const p = config.patch;
  const out = new Map<string, number>();
  const voxels = (scale: number) => (p / scale) ** 3;
  const conv = (stages: number, cin: number, cout: number, scale: number) => {
    let macs = 0;
    for (let i = 0; i < stages; i++) macs += (i === 0 ? cin : cout) * cout * 27 * voxels(scale);
    return macs;
  };
  const add = (name: string, macs: number) => out.set(name, (out.get(name) ?? 0) + macs / 1e9);
  add('block_one', conv(1, 1, f, 1));
  add('block_one_dw', f * 2 * f * 8 * voxels(2));
  add('block_two', conv(2, 2 * f, 2 * f, 2));
  add('block_two_dw', 2 * f * 4 * f * 8 * voxels(4));
  add('block_three', conv(3, 4 * f, 4 * f, 4));
  add('block_three_dw', 4 * f * 8 * f * 8 * voxels(8));
  add('block_four', conv(3, 8 * f, 8 * f, 8));
  add('block_four_dw', 8 * f * 16 * f * 8 * voxels(16));
  add('block_five', conv(3, 16 * f, 16 * f, 16));
  add('block_five_up', 16 * f * 8 * f * 8 * voxels(16));
  add('block_six', conv(3, 8 * f, 8 * f, 8));
  add('block_six_up', 8 * f * 4 * f * 8 * voxels(8));
  add('block_seven', conv(3, 4 * f, 4 * f, 4));
  add('block_seven_up', 4 * f * 2 * f * 8 * voxels(4));
  add('block_eight', conv(2, 2 * f, 2 * f, 2));
  add('block_eight_up', 2 * f * f * 8 * voxels(2));
  add('block_nine', conv(1, f, f, 1));
  if (config.text) {
    add('precls_conv', f * 8 * voxels(1));
    add('dynamic heads', config.classes * 136 * voxels(1));
    add('features_to_64', 2 * (4 * f) ** 2 * voxels(4));
    add('features_to_128', 2 * (8 * f) ** 2 * voxels(8));
    add('features_to_256', 2 * (16 * f) ** 2 * voxels(16));
  } else {
    add('out_conv', f * config.classes * voxels(1));
  }
  return out;
}
