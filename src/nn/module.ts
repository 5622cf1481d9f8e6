import { Tensor, keep } from '../tensor/tensor.js';
import { TakError, show } from '../util/errors.js';

/**
 * A PyTorch-style module: parameters, buffers and child modules registered by name in order, so
 * `namedParameters()` / `stateDict()` produce exactly the keys (and order) of the upstream
 * PyTorch module — `block_one.conv.0.weight`, `fc_layer.fc_layer.1.running_mean`, ... — and a
 * state_dict of the reference implementation maps 1:1.
 */
export class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable tensor (kept alive outside scopes, gradients on). */
  protected param(name: string, value: Tensor): Tensor {
    value.requiresGrad = true;
    value.name = name;
    this.ownParams.set(name, keep(value));
    return value;
  }

  /** Registers a non-trainable tensor saved in the state dict (running statistics, counters). */
  protected buffer(name: string, value: Tensor): Tensor {
    value.name = name;
    this.ownBuffers.set(name, keep(value));
    return value;
  }

  /** Replaces a registered buffer's tensor (running statistics are recomputed each step). */
  protected replaceBuffer(name: string, value: Tensor): void {
    const old = this.ownBuffers.get(name);
    if (!old) throw new TakError(`No buffer named ${name}`);
    value.name = name;
    this.ownBuffers.set(name, keep(value));
    old.dispose();
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** (key, parameter) pairs in PyTorch's order: own parameters, then each child's, recursively. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.ownParams) out.push([prefix + name, p]);
    for (const [name, c] of this.children) out.push(...c.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.ownBuffers) out.push([prefix + name, b]);
    for (const [name, c] of this.children) out.push(...c.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters and buffers in PyTorch's state_dict order (per module: params, buffers, children). */
  stateDict(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.ownParams) out.push([prefix + name, p]);
    for (const [name, b] of this.ownBuffers) out.push([prefix + name, b]);
    for (const [name, c] of this.children) out.push(...c.stateDict(`${prefix}${name}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [name, c] of this.children) out.push(...c.namedModules(`${prefix}${name}.`));
    return out;
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode (batch norm statistics, dropout) on this module and every child. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const p of this.ownParams.values()) p.dispose();
    for (const b of this.ownBuffers.values()) b.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}

/** A module with a single-tensor forward: what Sequential chains. */
export interface Layer {
  forward(x: Tensor): Tensor;
}

/** Children named "0", "1", ... like torch.nn.Sequential. */
export class Sequential extends Module implements Layer {
  readonly layers: (Module & Layer)[];
  constructor(...layers: (Module & Layer)[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => this.child(String(i), layer));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y);
    return y;
  }
}

/** Checks a loaded tensor's shape against the parameter it replaces. */
export function checkLoadShape(key: string, expected: readonly number[], got: readonly number[], source: string): void {
  if (expected.length !== got.length || expected.some((d, i) => d !== got[i])) {
    throw new TakError(`${source}: "${key}" has shape ${show([...got])} but this model expects ${show([...expected])}; was it saved for another configuration (n_filters, classes, patch size)?`);
  }
}
