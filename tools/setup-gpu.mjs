#!/usr/bin/env node
// Makes a WebGPU adapter available to Dawn on this machine. Idempotent; prints what it did.
//
// 1. If Dawn (node_modules/webgpu) already finds an adapter, there is nothing to do.
// 2. On Debian/Ubuntu as root, installs Mesa's Vulkan drivers (lavapipe: a software GPU on the CPU)
//    and the Vulkan loader. Dawn needs Mesa >= 23; Debian bookworm ships 22.3, so on bookworm they
//    come from Debian's own bookworm-backports suite (Mesa 25), which this script adds if needed.
// 3. Otherwise it says what to install and exits with status 1.
//
// Usage: node tools/setup-gpu.mjs [--test-data]
//   --test-data  also install the Debian packages the test suite reads from or checks against (ONNX
//                golden operator tests, real NIfTI volumes, nibabel, PyTorch, Chromium); without
//                them those tests skip with a message.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const withTestData = process.argv.includes('--test-data');
// ONNX golden operator data, NIfTI volumes and nibabel (reference reader), PyTorch (state_dict
// import and numerics cross-checks), Chromium (the training report renders headless).
const TEST_PACKAGES = ['libonnx-testdata', 'python3-nibabel', 'insighttoolkit5-examples', 'mricron-data', 'python3-torch', 'chromium'];
const say = (message) => process.stdout.write(`setup-gpu: ${message}\n`);

function fail(message) {
  process.stderr.write(`setup-gpu: ${message}\n`);
  process.exit(1);
}

/** Asks Dawn for an adapter in a child process; returns its description or null. */
function probeAdapter() {
  if (!existsSync(join(root, 'node_modules', 'webgpu'))) return null;
  const code = `
    const { create, globals } = await import(${JSON.stringify(join(root, 'node_modules', 'webgpu', 'index.js'))});
    Object.assign(globalThis, globals);
    globalThis.keep = create([]);
    const a = await globalThis.keep.requestAdapter();
    process.stdout.write(a ? (a.info.description || a.info.device || 'adapter') : '');`;
  const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp' };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env, timeout: 60_000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

function osRelease() {
  if (!existsSync('/etc/os-release')) return {};
  return Object.fromEntries(
    readFileSync('/etc/os-release', 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
  );
}

function installedVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg], { encoding: 'utf8' });
  const m = /install ok installed (\S+)/.exec(r.stdout ?? '');
  return m ? m[1] : null;
}

function apt(args) {
  say(`apt-get ${args.join(' ')}`);
  execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

const adapter = probeAdapter();
if (adapter && !withTestData) {
  say(`Dawn already finds an adapter: ${adapter}. Nothing to do.`);
  process.exit(0);
}

const os = osRelease();
const debianLike = existsSync('/etc/debian_version') && /debian|ubuntu/i.test(`${os.ID ?? ''} ${os.ID_LIKE ?? ''}`);
const manual =
  'Install a Vulkan driver and loader: Mesa >= 23 (lavapipe, a CPU implementation, works everywhere: ' +
  'packages libvulkan1 + mesa-vulkan-drivers on Debian/Ubuntu, vulkan-loader + mesa-vulkan-drivers on ' +
  'Fedora, vulkan-icd-loader + vulkan-swrast on Arch) or your GPU vendor\'s Vulkan driver. ' +
  'macOS and Windows need nothing (Metal / D3D12).';

if (process.platform !== 'linux') fail(`no adapter found. ${manual}`);
if (!debianLike) fail(`no adapter found and this is not Debian/Ubuntu (${os.PRETTY_NAME ?? 'unknown Linux'}). ${manual}`);
if (process.getuid?.() !== 0) {
  fail(
    'no adapter found. Run this script as root (sudo node tools/setup-gpu.mjs) so it can install ' +
      `Mesa's software Vulkan driver with apt-get, or install it yourself. ${manual}`,
  );
}

const wanted = ['libvulkan1', 'mesa-vulkan-drivers'];
const mesa = installedVersion('mesa-vulkan-drivers');
const mesaMajor = mesa ? Number(/^(?:\d+:)?(\d+)/.exec(mesa)?.[1]) : 0;
let updated = false;
if (!adapter && !(mesaMajor >= 23 && installedVersion('libvulkan1'))) {
  const codename = os.VERSION_CODENAME;
  if (os.ID === 'debian' && codename === 'bookworm') {
    const list = '/etc/apt/sources.list.d/tak-wgpu-bookworm-backports.list';
    const already = spawnSync('sh', ['-c', 'grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/'], {}).status === 0;
    if (!already) {
      mkdirSync(dirname(list), { recursive: true });
      writeFileSync(list, 'deb http://deb.debian.org/debian bookworm-backports main\n');
      say(`added Debian's bookworm-backports suite (${list}): bookworm's own Mesa 22.3 is too old for Dawn`);
    }
    apt(['update', '-qq']);
    updated = true;
    apt(['install', '-y', '-qq', '-t', 'bookworm-backports', ...wanted]);
  } else {
    apt(['update', '-qq']);
    updated = true;
    apt(['install', '-y', '-qq', ...wanted]);
  }
  say(`installed ${wanted.join(' and ')} (mesa-vulkan-drivers ${installedVersion('mesa-vulkan-drivers')})`);
} else if (!adapter) {
  say(`mesa-vulkan-drivers ${mesa} and libvulkan1 are installed already`);
}

if (withTestData) {
  const missing = TEST_PACKAGES.filter((p) => !installedVersion(p));
  if (missing.length) {
    if (!updated) apt(['update', '-qq']);
    apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
    say(`installed test data packages: ${missing.join(', ')}`);
  } else {
    say('test data packages are installed already');
  }
}

const after = probeAdapter();
if (after) say(`Dawn finds: ${after}`);
else if (!existsSync(join(root, 'node_modules', 'webgpu'))) say('drivers are in place; run `npm ci`, then `npx tak-wgpu info` shows the adapter');
else fail(`Dawn still finds no adapter after the install. ${manual}`);
