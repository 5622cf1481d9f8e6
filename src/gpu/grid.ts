/**
 * Workgroup counts for `groups` workgroups laid out over x (and y when x would exceed the
 * per-dimension limit). Kernels recover the linear workgroup index as wid.x + wid.y * groups.x.
 */
export function grid(groups: number, maxPerDim = 65535): [number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 0), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
