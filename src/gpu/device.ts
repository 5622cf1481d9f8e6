import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { TakError } from '../util/errors.js';

/** How to pick the adapter: a name substring and/or a Dawn backend ("vulkan", "metal", "d3d12", ...). */
export interface AdapterChoice {
  adapter?: string;
  backend?: string;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader, WARP). */
  isSoftware: boolean;
}

export interface GpuHandles {
  device: GPUDevice;
  adapter: GPUAdapter;
  summary: AdapterSummary;
  features: string[];
  limits: Record<string, number>;
  /** Destroys the device. Idempotent. */
  release(): void;
}

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };

/** Optional features the engine uses when the adapter has them. */
const WANTED_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'];

/**
 * The dawn.node `GPU` objects this process created. dawn.node's GPU object owns the native Dawn
 * instance while its async runner (which pumps mapAsync/onSubmittedWorkDone callbacks) keeps only a
 * raw pointer to it. If JavaScript drops the `create()` result, garbage collection frees the
 * instance and the next event pump touches freed memory: SIGSEGV in DeviceBase::APITick, futex
 * EINVAL, mutex assertions. Optimised JS makes this likely (TurboFan's liveness analysis ends a
 * variable's life after its last use, so a busy loop that triggers OSR makes `gpu` collectable),
 * which is why the crash tracked "synchronous JS on the device's thread". Holding every instance
 * here for as long as its device lives removes the cause. See docs/lavapipe-crash.md.
 */
const liveInstances = new Set<GPU>();

let dawn: DawnModule | undefined;

function loadDawn(): DawnModule {
  if (dawn) return dawn;
  // Mesa's drivers complain on every start without a runtime dir; give them a private one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `tak-wgpu-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  const require = createRequire(import.meta.url);
  let module: DawnModule;
  try {
    // `webgpu` is ESM with a CommonJS core; requiring its entry keeps this synchronous.
    module = require('webgpu') as DawnModule;
  } catch (error) {
    throw new TakError(
      `Could not load Dawn (npm package "webgpu"): ${(error as Error).message}. ` +
        'Run `npm ci` in the project folder; dawn.node ships prebuilt for linux-x64, darwin and win32.',
      { cause: error },
    );
  }
  Object.assign(globalThis, module.globals);
  dawn = module;
  return module;
}

/** Reads the adapter choice from flags first, then TAK_WGPU_ADAPTER / TAK_WGPU_BACKEND. */
export function adapterChoiceFromEnv(choice: AdapterChoice = {}): AdapterChoice {
  return {
    adapter: choice.adapter ?? process.env.TAK_WGPU_ADAPTER ?? undefined,
    backend: choice.backend ?? process.env.TAK_WGPU_BACKEND ?? undefined,
  };
}

const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. On Debian/Ubuntu run `node tools/setup-gpu.mjs` as root: it installs ' +
  "Mesa's software Vulkan driver (lavapipe, Mesa >= 23; on bookworm from bookworm-backports). " +
  'Elsewhere install your GPU\'s Vulkan driver (or use Metal/D3D12). `tak-wgpu info` lists what Dawn sees.';

export async function acquireGpu(choice: AdapterChoice = {}): Promise<GpuHandles> {
  const { create } = loadDawn();
  const { adapter: adapterName, backend } = adapterChoiceFromEnv(choice);
  const flags: string[] = [];
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);
  if (process.env.TAK_WGPU_DAWN_FLAGS) flags.push(...process.env.TAK_WGPU_DAWN_FLAGS.split(/\s+/).filter(Boolean));
  const gpu = create(flags);
  liveInstances.add(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    liveInstances.delete(gpu);
    const what = [backend && `backend "${backend}"`, adapterName && `adapter name containing "${adapterName}"`]
      .filter(Boolean)
      .join(' and ');
    throw new TakError(what ? `No WebGPU adapter matches ${what}. ${NO_ADAPTER_HELP}` : NO_ADAPTER_HELP);
  }
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures: features as GPUFeatureName[],
    requiredLimits: limits,
    label: 'tak-wgpu',
  });
  const info = adapter.info;
  const description = info.description || info.device || info.vendor || 'unknown adapter';
  const summary: AdapterSummary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description,
    backend: backend ?? (process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan'),
    isFallbackAdapter: Boolean((info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    isSoftware: /llvmpipe|lavapipe|swiftshader|warp|software/i.test(`${description} ${info.device} ${info.architecture}`),
  };
  let released = false;
  return {
    device,
    adapter,
    summary,
    features: [...device.features],
    limits,
    release() {
      if (released) return;
      released = true;
      // The instance stays in liveInstances: callbacks rejected by destroy() are still pumped
      // through it, and an idle instance does not keep the process alive.
      device.destroy();
    },
  };
}
