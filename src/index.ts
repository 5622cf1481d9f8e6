/**
 * tak-wgpu as a library: the engine (init/shutdown), tensors, autograd and ops. The model,
 * data, knowledge and training layers are imported from their own modules.
 */
export { init, shutdown, engine, type EngineOptions } from './gpu/engine.js';
export { Tensor, scope, asyncScope, keep, liveTensorCount, numel, type DType, type Shape } from './tensor/tensor.js';
export * from './tensor/create.js';
export { backward, noGrad, noGradAsync, detach, isGradEnabled } from './autograd/graph.js';
export { gradcheck, type GradcheckOptions, type GradcheckReport } from './autograd/gradcheck.js';
export * from './ops/index.js';
export { TakError } from './util/errors.js';
