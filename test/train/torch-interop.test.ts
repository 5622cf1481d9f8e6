import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TakNet } from '../../src/models/tak-net.js';
import { loadWeights } from '../../src/train/checkpoint.js';
import { useEngine } from '../support/engine.js';

useEngine();

// --init-from with a state_dict saved by PyTorch: bench/torch_train.py builds the TAK network with
// upstream's module names (written independently of src/models), at a small configuration.
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn('python3-torch is not installed: the --init-from check against PyTorch is skipped (apt-get install python3-torch)');
const peer = fileURLToPath(new URL('../../bench/torch_train.py', import.meta.url));

function savePeer(file: string, filters: number): number[] {
  const script = `
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location('peer', sys.argv[1]); peer = importlib.util.module_from_spec(spec); spec.loader.exec_module(peer)
torch.manual_seed(0)
m = peer.TakNet(16, ${filters}, 64, 2, True, 512)
m.fc_layer.fc_layer[1].running_mean.uniform_(-1, 1)
torch.save(m.state_dict(), sys.argv[2])
sd = m.state_dict()
print(float(sd['block_three.conv.3.weight'].flatten()[17]), float(sd['controller.bias'][152]), float(sd['fc_layer.fc_layer.1.running_mean'][5]), len(sd))`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, peer, file], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split(/\s+/).map(Number);
}

describe('--init-from a PyTorch state_dict', () => {
  it.skipIf(!hasTorch)('loads every tensor of a TAK network saved by PyTorch, by upstream key and shape', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tak-init-')), 'tak.pth');
    const [conv, bias, runningMean, count] = savePeer(file, 4);
    const net = new TakNet({ classes: 16, nFilters: 4, patch: 64, cubes: 2, text: true, textDim: 512 });
    expect(net.stateDict().length).toBe(count);
    loadWeights(net, file);
    const get = async (key: string, i: number) => (await net.stateDict().find(([k]) => k === key)![1].toArray())[i]!;
    expect(await get('block_three.conv.3.weight', 17)).toBeCloseTo(conv!, 6);
    expect(await get('controller.bias', 152)).toBeCloseTo(bias!, 6);
    expect(await get('fc_layer.fc_layer.1.running_mean', 5)).toBeCloseTo(runningMean!, 6);
  }, 120_000);

  it.skipIf(!hasTorch)('a different width is refused naming the tensor and both shapes', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tak-init-')), 'tak8.pth');
    savePeer(file, 8);
    const net = new TakNet({ classes: 16, nFilters: 4, patch: 64, cubes: 2, text: true, textDim: 512 });
    // The first tensor in state_dict order is the location head's Linear (2048·f/16 inputs → 4096).
    expect(() => loadWeights(net, file)).toThrow(/tak8\.pth: "fc_layer\.fc_layer\.0\.weight" has shape \[4096, 1024\] but this model expects \[4096, 512\]; was it saved for another configuration/);
  }, 120_000);
});
