import { engine } from '../gpu/engine.js';
import { TakError } from '../util/errors.js';

/**
 * The GEMM-shaped kernels (matmul, the convolution family) run one 8-invocation workgroup as one
 * subgroup and pass values between its lanes with subgroupShuffle, so they need the WebGPU
 * `subgroups` feature and subgroups of at least 8 invocations (every desktop GPU and lavapipe;
 * some mobile GPUs have 4).
 */
let checked: object | null = null;

export function requireSubgroups(op: string): void {
  const e = engine();
  if (checked === e) return;
  const info = e.gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  if (!e.gpu.features.includes('subgroups')) {
    throw new TakError(`${op} needs the WebGPU "subgroups" feature, which adapter "${e.gpu.summary.description}" does not offer. Use another adapter (tak-wgpu info lists them).`);
  }
  if (info.subgroupMinSize !== undefined && info.subgroupMinSize < 8) {
    throw new TakError(`${op} needs subgroups of at least 8 invocations; adapter "${e.gpu.summary.description}" may use ${info.subgroupMinSize}. Use another adapter.`);
  }
  checked = e;
}
