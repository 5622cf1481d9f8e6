import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../gpu/engine.js';
import { fromArray } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from '../nn/safetensors.js';
import { checkLoadShape, type Module } from '../nn/module.js';
import type { Sgd } from '../nn/optim.js';
import { readTorchStateDict } from '../nn/torch-load.js';
import { TakError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * Checkpoints: a folder per save with `student.safetensors` (the model's state_dict under the
 * upstream PyTorch keys, loadable with safetensors.torch.load_file), `teacher.safetensors`,
 * `optimizer.safetensors` (momentum buffers by parameter key) and `state.json` (config, step,
 * epoch, schedules' state, metric history, RNG positions). The folder is written under a temporary
 * name and renamed, then `latest.json` is replaced atomically, so an interrupted save (Ctrl-C,
 * kill -9, full disk) leaves the previous checkpoint intact.
 */

async function tensorsOf(entries: [string, Tensor][]): Promise<[string, SafeTensor][]> {
  const out: [string, SafeTensor][] = [];
  for (const [name, t] of entries) {
    const values = await t.toArray();
    out.push([name, t.dtype === 'f32' ? { dtype: 'F32', shape: [...t.shape], data: values as Float32Array } : { dtype: 'I32', shape: [...t.shape], data: values as Int32Array }]);
  }
  return out;
}

export async function saveModel(path: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  writeSafetensors(path, await tensorsOf(model.stateDict()), metadata);
}

/** Copies stored values into a module's existing parameters and buffers (shapes checked, keys matched). */
export function loadStateInto(model: Module, stored: Map<string, { shape: number[]; values: ArrayLike<number> }>, source: string, options: { strict?: boolean } = {}): void {
  const own = model.stateDict();
  const missing = own.filter(([k]) => !stored.has(k)).map(([k]) => k);
  if (missing.length && options.strict !== false) {
    throw new TakError(`${source} lacks ${missing.length} of this model's tensors (${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}); it was saved from a different architecture or with --no-text`);
  }
  const ownKeys = new Set(own.map(([k]) => k));
  const unexpected = [...stored.keys()].filter((k) => !ownKeys.has(k));
  if (unexpected.length && options.strict !== false) {
    throw new TakError(`${source} holds ${unexpected.length} tensors this model does not have (${unexpected.slice(0, 4).join(', ')}${unexpected.length > 4 ? ', …' : ''})`);
  }
  for (const [key, t] of own) {
    const entry = stored.get(key);
    if (!entry) continue;
    checkLoadShape(key, t.shape, entry.shape, source);
    const data = t.dtype === 'f32' ? Float32Array.from(entry.values) : Int32Array.from(entry.values);
    const fresh = fromArray(data, t.shape, t.dtype);
    overwrite(t, fresh);
    fresh.dispose();
  }
}

/** Replaces a tensor's contents in place (parameters keep their identity for the optimiser). */
function overwrite(target: Tensor, source: Tensor): void {
  engine().copy(source.live().buffer, source.byteOffset, target.live().buffer, target.byteOffset, target.byteLength);
}

function fromSafetensors(path: string): Map<string, { shape: number[]; values: ArrayLike<number> }> {
  const file = readSafetensors(path);
  const out = new Map<string, { shape: number[]; values: ArrayLike<number> }>();
  for (const [name, t] of file.tensors) {
    const values = t.data instanceof BigInt64Array ? Array.from(t.data, Number) : (t.data as ArrayLike<number>);
    out.set(name, { shape: t.shape, values });
  }
  return out;
}

/** Loads weights from a safetensors file or a PyTorch state_dict (.pth/.pt, e.g. TAK-Semi's checkpoints). */
export function loadWeights(model: Module, path: string, options: { strict?: boolean } = {}): void {
  if (!existsSync(path)) throw new TakError(`Weights file ${path} does not exist`);
  const stored = path.endsWith('.safetensors') ? fromSafetensors(path) : readTorchStateDict(path);
  loadStateInto(model, stored as Map<string, { shape: number[]; values: ArrayLike<number> }>, path, options);
}

export interface CheckpointState {
  format: 'tak-wgpu-checkpoint/1';
  iteration: number;
  epoch: number;
  [key: string]: unknown;
}

export interface CheckpointParts {
  student: Module;
  teacher: Module;
  optimizer: Sgd;
  state: CheckpointState;
  /** Stored with the student's and teacher's weights (what predict needs to rebuild the network). */
  metadata?: Record<string, string>;
}

/** Writes checkpoint `name` under `dir` and points latest.json at it; keeps the newest `keep`. */
export async function saveCheckpoint(dir: string, name: string, parts: CheckpointParts, keep = 2): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const final = join(dir, name);
  const temporary = join(dir, `.${name}.${process.pid}.tmp`);
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  await saveModel(join(temporary, 'student.safetensors'), parts.student, parts.metadata);
  await saveModel(join(temporary, 'teacher.safetensors'), parts.teacher, parts.metadata);
  writeSafetensors(join(temporary, 'optimizer.safetensors'), await tensorsOf([...parts.optimizer.buffers]), { lr: String(parts.optimizer.lr) });
  writeFileAtomic(join(temporary, 'state.json'), `${JSON.stringify(parts.state, null, 1)}\n`);
  rmSync(final, { recursive: true, force: true });
  renameSync(temporary, final);
  writeFileAtomic(join(dir, 'latest.json'), `${JSON.stringify({ checkpoint: name, iteration: parts.state.iteration, epoch: parts.state.epoch })}\n`);
  const saved = readdirSync(dir).filter((d) => /^iter-\d+$/.test(d)).sort();
  for (const old of saved.slice(0, Math.max(0, saved.length - keep))) if (old !== name) rmSync(join(dir, old), { recursive: true, force: true });
  return final;
}

/** The checkpoint latest.json points at, or null when there is none. */
export function latestCheckpoint(dir: string): string | null {
  const pointer = join(dir, 'latest.json');
  if (!existsSync(pointer)) return null;
  const { checkpoint } = JSON.parse(readFileSync(pointer, 'utf8')) as { checkpoint: string };
  const path = join(dir, checkpoint);
  if (!existsSync(join(path, 'state.json'))) throw new TakError(`${pointer} names ${checkpoint}, which is missing or incomplete; delete latest.json to start over`);
  return path;
}

export function readCheckpointState(path: string): CheckpointState {
  const state = JSON.parse(readFileSync(join(path, 'state.json'), 'utf8')) as CheckpointState;
  if (state.format !== 'tak-wgpu-checkpoint/1') throw new TakError(`${path}/state.json is not a tak-wgpu checkpoint (format ${String(state.format)})`);
  return state;
}

/** Restores student, teacher and optimiser momentum from a checkpoint folder. */
export function loadCheckpoint(path: string, student: Module, teacher: Module, optimizer: Sgd): CheckpointState {
  loadWeights(student, join(path, 'student.safetensors'));
  loadWeights(teacher, join(path, 'teacher.safetensors'));
  const momentum = readSafetensors(join(path, 'optimizer.safetensors'));
  const params = new Map(optimizer.params);
  for (const [name, t] of momentum.tensors) {
    const p = params.get(name);
    if (!p) throw new TakError(`${path}/optimizer.safetensors has momentum for unknown parameter ${name}`);
    checkLoadShape(name, p.shape, t.shape, `${path}/optimizer.safetensors`);
    optimizer.restoreBuffer(name, t.data as Float32Array);
  }
  const lr = Number(momentum.metadata.lr);
  if (Number.isFinite(lr)) optimizer.lr = lr;
  return readCheckpointState(path);
}
