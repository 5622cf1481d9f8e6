import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { TypeInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { TakError } from '../util/errors.js';

/**
 * Kernel registry: `kernels/<name>.wgsl` files, reflected with wgsl_reflect so the WGSL file is
 * the only place a kernel's bindings and parameter struct are written. Host code supplies
 * `override` constants (specialisation) and, as the one explicit template step, replacements for
 * `alias NAME = TYPE;` lines (element types). Pipelines are cached by file + types + constants.
 */

export type ScalarKind = 'u32' | 'i32' | 'f32';

export interface ParamField {
  offset: number;
  kind: ScalarKind;
  /** Number of scalars the field holds (1 for a scalar, 4 for vec4, 4·N for array<vec4, N>). */
  count: number;
}

export interface ParamsLayout {
  binding: number;
  size: number;
  fields: Map<string, ParamField>;
}

export interface StorageBinding {
  name: string;
  binding: number;
  readOnly: boolean;
}

export interface Kernel {
  /** Cache key and profiler label: file plus specialisation. */
  readonly key: string;
  readonly file: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly storage: StorageBinding[];
  readonly params: ParamsLayout | null;
}

export interface KernelSpec {
  file: string;
  constants?: Record<string, number | boolean>;
  types?: Record<string, string>;
}

interface Source {
  code: string;
  reflect: WgslReflect;
  module: GPUShaderModule;
  storage: StorageBinding[];
  params: ParamsLayout | null;
  overrides: Set<string>;
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

/** Folder holding the .wgsl files: `kernels/` at the package root (works from src/ and dist/src/). */
export function kernelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'kernels'))) return join(dir, 'kernels');
    dir = resolve(dir, '..');
  }
  throw new TakError(`Cannot find the kernels/ folder above ${fileURLToPath(import.meta.url)}; reinstall tak-wgpu.`);
}

function scalarKind(type: TypeInfo, where: string): { kind: ScalarKind; count: number } {
  const name = type.name;
  const direct: Record<string, [ScalarKind, number]> = {
    u32: ['u32', 1], i32: ['i32', 1], f32: ['f32', 1],
    vec2u: ['u32', 2], vec3u: ['u32', 3], vec4u: ['u32', 4],
    vec2i: ['i32', 2], vec3i: ['i32', 3], vec4i: ['i32', 4],
    vec2f: ['f32', 2], vec3f: ['f32', 3], vec4f: ['f32', 4],
  };
  if (direct[name]) return { kind: direct[name][0], count: direct[name][1] };
  const format = (type as unknown as { format?: TypeInfo }).format;
  if (/^vec[234]$/.test(name) && format) {
    return { kind: scalarKind(format, where).kind, count: Number(name[3]) };
  }
  if (name === 'array' && format) {
    const inner = scalarKind(format, where);
    const count = (type as unknown as { count: number }).count;
    if (inner.count !== 4 && inner.count !== 1) throw new TakError(`${where}: uniform arrays must hold vec4 or scalars`);
    return { kind: inner.kind, count: inner.count * count };
  }
  throw new TakError(`${where}: unsupported parameter type ${name}; use u32/i32/f32, vecN of them, or array<vec4<T>, N>`);
}

function applyTypes(code: string, types: Record<string, string>, file: string): string {
  let out = code;
  for (const [alias, type] of Object.entries(types)) {
    const pattern = new RegExp(`^alias\\s+${alias}\\s*=\\s*[^;]+;`, 'm');
    if (!pattern.test(out)) throw new TakError(`kernels/${file}.wgsl has no line "alias ${alias} = ...;" to specialise`);
    out = out.replace(pattern, `alias ${alias} = ${type};`);
  }
  return out;
}

export class KernelRegistry {
  private readonly texts = new Map<string, string>();
  private readonly sources = new Map<string, Source>();
  private readonly kernels = new Map<string, Kernel>();
  private readonly dir = kernelsDir();

  constructor(
    private readonly device: GPUDevice,
    /** Receives a promise per compiled pipeline that resolves to an error message or null. */
    private readonly onCompile: (check: Promise<string | null>) => void,
  ) {}

  get(spec: KernelSpec): Kernel {
    const key = kernelKey(spec);
    let kernel = this.kernels.get(key);
    if (!kernel) {
      kernel = this.compile(spec, key);
      this.kernels.set(key, kernel);
    }
    return kernel;
  }

  /** Number of distinct pipelines compiled so far (each is an LLVM compile on lavapipe). */
  get pipelineCount(): number {
    return this.kernels.size;
  }

  private text(file: string): string {
    let text = this.texts.get(file);
    if (text === undefined) {
      // A name is a file in kernels/; a path ending in .wgsl (tests, extensions) is read as is.
      const path = file.endsWith('.wgsl') ? file : join(this.dir, `${file}.wgsl`);
      if (!existsSync(path)) throw new TakError(`Unknown kernel "${file}": ${path} does not exist`);
      text = readFileSync(path, 'utf8');
      this.texts.set(file, text);
    }
    return text;
  }

  private source(file: string, types: Record<string, string>): Source {
    const key = `${file}|${JSON.stringify(types)}`;
    let source = this.sources.get(key);
    if (source) return source;
    const code = applyTypes(this.text(file), types, file);
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(code);
    } catch (error) {
      throw new TakError(`kernels/${file}.wgsl could not be parsed: ${(error as Error).message}`);
    }
    const where = `kernels/${file}.wgsl`;
    for (const v of [...reflect.uniforms, ...reflect.storage]) {
      if (v.group !== 0) throw new TakError(`${where}: binding ${v.name} must be in @group(0)`);
    }
    if (reflect.uniforms.length > 1) throw new TakError(`${where}: at most one uniform (the params struct) per kernel`);
    const storage = reflect.storage
      .map((v) => ({ name: v.name, binding: v.binding, readOnly: v.access !== 'read_write' }))
      .sort((a, b) => a.binding - b.binding);
    let params: ParamsLayout | null = null;
    const u = reflect.uniforms[0];
    if (u) {
      const fields = new Map<string, ParamField>();
      for (const m of u.members ?? []) fields.set(m.name, { offset: m.offset, ...scalarKind(m.type, `${where} ${u.name}.${m.name}`) });
      params = { binding: u.binding, size: Math.max(16, Math.ceil(u.size / 16) * 16), fields };
    }
    const entries: GPUBindGroupLayoutEntry[] = storage.map((s) => ({
      binding: s.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: s.readOnly ? 'read-only-storage' : 'storage' },
    }));
    if (params) {
      entries.push({
        binding: params.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: params.size },
      });
    }
    const layout = this.device.createBindGroupLayout({ entries, label: file });
    const pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: file });
    const module = this.device.createShaderModule({ code, label: `kernels/${file}.wgsl` });
    source = {
      code,
      reflect,
      module,
      storage,
      params,
      overrides: new Set(reflect.overrides.map((o) => o.name)),
      layout,
      pipelineLayout,
    };
    this.sources.set(key, source);
    return source;
  }

  private compile(spec: KernelSpec, key: string): Kernel {
    const source = this.source(spec.file, spec.types ?? {});
    const constants: Record<string, number> = {};
    for (const [name, value] of Object.entries(spec.constants ?? {})) {
      if (!source.overrides.has(name)) {
        throw new TakError(
          `kernels/${spec.file}.wgsl declares no "override ${name}"; it declares: ${[...source.overrides].join(', ') || 'none'}`,
        );
      }
      constants[name] = typeof value === 'boolean' ? Number(value) : value;
    }
    const entry = source.reflect.entry.compute[0];
    if (!entry) throw new TakError(`kernels/${spec.file}.wgsl has no @compute entry point`);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({
      layout: source.pipelineLayout,
      compute: { module: source.module, entryPoint: entry.name, constants },
      label: key,
    });
    const module = source.module;
    this.onCompile(
      this.device.popErrorScope().then(async (error) => {
        if (!error) return null;
        const info = await module.getCompilationInfo();
        const lines = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => `${displayPath(spec.file)}:${m.lineNum}:${m.linePos}: ${m.message}`);
        return `Kernel ${key} failed to compile:\n${lines.length ? lines.join('\n') : error.message}`;
      }),
    );
    return { key, file: spec.file, pipeline, layout: source.layout, storage: source.storage, params: source.params };
  }
}

function displayPath(file: string): string {
  return file.endsWith('.wgsl') ? file : `kernels/${file}.wgsl`;
}

export function kernelKey(spec: KernelSpec): string {
  const parts = [spec.file];
  const types = Object.entries(spec.types ?? {});
  if (types.length) parts.push(types.map(([k, v]) => `${k}=${v}`).join(','));
  const constants = Object.entries(spec.constants ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (constants.length) parts.push(constants.map(([k, v]) => `${k}=${Number(v)}`).join(','));
  return parts.join(':');
}
