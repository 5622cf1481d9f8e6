import { setGradArithmetic } from '../autograd/graph.js';
import { ones } from '../tensor/create.js';
import { add } from './elementwise.js';

export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './gather.js';
export * from './matmul.js';
export { conv3d, conv3dInput, conv3dWeight, type Conv3dOptions } from './conv.js';
export { convTranspose3d, type ConvTranspose3dOptions } from './conv-transpose.js';
export { instanceNorm3d, groupNorm, batchNorm, batchNorm1d, type NormOptions, type BatchNormOptions } from './norm.js';
export { adaptiveAvgPool3d } from './pool.js';
export { interpolate3d, type InterpolateOptions } from './resize.js';
export * from './cubes.js';
export * from './softmax.js';
export * from './topk.js';
export * from './losses.js';
export * from './contrastive.js';
export * from './dynamic-head.js';
export * from './linear.js';
export { broadcastShapes } from './broadcast.js';
export { registeredOps, type OpEntry, type GradcheckCase } from './registry.js';

// autograd sits below ops; it adds gradients and seeds ones through these.
setGradArithmetic({ add: (a, b) => add(a, b), onesLike: (t) => ones(t.shape, t.dtype) });
