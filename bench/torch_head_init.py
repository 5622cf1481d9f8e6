#!/usr/bin/python3
"""Does the text-driven head learn in a CPU budget? The controller-initialisation experiment behind
the `cpu` preset's `controllerInit: kaiming` (README, "What the cpu preset can and cannot show").

Independent of tak-wgpu's engine: PyTorch (Debian python3-torch) trains bench/torch_train.py's
TakNet at the cpu preset's size (8 filters, 64³ crops, 16 AMOS classes) with the supervised loss
only (GA-CE + GA-Dice of the softmax), SGD Nesterov 0.9, weight decay 1e-4, poly lr from 0.1, on
random 64³ crops of the first three labelled phantom cases (the preprocessed volumes `tak-wgpu
train` caches in ~/.cache/tak-wgpu), and prints the mean organ Dice of the last three cases
(4 overlapping 64³ tiles each, softmax averaged).

--init picks the controller's initialisation:
  pytorch   PyTorch's default (upstream)
  kaiming   kaiming_normal_ weights (fan_in, ReLU gain) and a zero bias (the cpu preset)
  weights   kaiming_normal_ weights, default bias
  bias      default weights, zero bias
  all-convs upstream's unused kaiming_normal_init_weight: kaiming_normal_ on every Conv3d weight
--text picks the text rows: use-lite (knowledge/embeddings, the default encoder), biomedclip
(TAK's own file under ../shared/reference, when present) or none (the plain 1×1×1 head).

Usage: /usr/bin/python3 bench/torch_head_init.py --init kaiming --steps 48 --seed 1
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_train as tt  # noqa: E402

ROOT = os.path.dirname(HERE)
CLASSES = 16
PATCH = 64


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--init', choices=['pytorch', 'kaiming', 'weights', 'bias', 'all-convs'], default='kaiming')
    p.add_argument('--text', choices=['use-lite', 'biomedclip', 'none'], default='use-lite')
    p.add_argument('--steps', type=int, default=48)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--eval-every', type=int, default=24)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--cache', default=os.environ.get('TAK_WGPU_CACHE', os.path.expanduser('~/.cache/tak-wgpu')))
    return p.parse_args()


def load_cases(cache):
    """Preprocessed phantom cases of the cpu preset's grid (96×96×64), by id."""
    cases = {}
    for meta_file in glob.glob(os.path.join(cache, 'preprocessed', '*.json')):
        with open(meta_file) as f:
            meta = json.load(f)
        if meta['dims'] != [96, 96, 64] or not meta['hasLabel']:
            continue
        base = meta_file[:-5]
        cases[meta['id']] = (np.load(base + '.image.npy').astype(np.float32), np.load(base + '.label.npy').astype(np.int64))
    if len(cases) < 6:
        tt.fail(f'found {len(cases)} preprocessed 96×96×64 phantom cases under {cache}; run `npx tak-wgpu train` once first')
    return cases


def text_rows(kind):
    if kind == 'none':
        return None
    if kind == 'biomedclip':
        path = os.path.join(ROOT, '..', 'shared', 'reference', 'tak-semi', 'amos_embedding_shape_location.pth')
        if not os.path.exists(path):
            tt.fail(f'{path} is absent')
        return torch.load(path, map_location='cpu').float().reshape(2 * CLASSES, 512)
    raw = np.fromfile(os.path.join(ROOT, 'knowledge', 'embeddings', 'amos.use-lite.position+shape.f32'), dtype='<f4')
    return torch.from_numpy(raw.reshape(2 * CLASSES, 512).copy())


def initialise(net, init):
    with torch.no_grad():
        if init == 'all-convs':
            for m in net.modules():
                if isinstance(m, torch.nn.Conv3d):
                    torch.nn.init.kaiming_normal_(m.weight)
            return
        if init in ('kaiming', 'weights'):
            torch.nn.init.kaiming_normal_(net.controller.weight, nonlinearity='relu')
        if init in ('kaiming', 'bias'):
            net.controller.bias.zero_()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cases = load_cases(args.cache)
    ids = sorted(cases)
    train_ids, test_ids = ids[:3], ids[-3:]
    rows = text_rows(args.text)
    net = tt.TakNet(CLASSES, 8, PATCH, 2, rows is not None, 512)
    if rows is not None and args.init != 'pytorch':
        initialise(net, args.init)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4, nesterov=True)

    def crop(volume, z, y, x):
        return volume[z:z + PATCH, y:y + PATCH, x:x + PATCH]

    def evaluate():
        net.eval()
        dice = {}
        with torch.no_grad():
            for cid in test_ids:
                img, lab = cases[cid]
                d, h, w = img.shape
                acc = torch.zeros(CLASSES, d, h, w)
                for y in (0, h - PATCH):
                    for x in (0, w - PATCH):
                        tile = torch.from_numpy(crop(img, 0, y, x).copy())[None, None]
                        acc[:, 0:PATCH, y:y + PATCH, x:x + PATCH] += torch.softmax(net(tile, rows), 1)[0]
                pred = acc.argmax(0).numpy()
                for c in range(1, CLASSES):
                    truth = lab == c
                    if truth.any():
                        dice.setdefault(c, []).append(2 * (truth & (pred == c)).sum() / (truth.sum() + (pred == c).sum()))
        net.train()
        per = {c: float(np.mean(v)) for c, v in dice.items()}
        return float(np.mean(list(per.values()))), per

    start = time.time()
    for it in range(args.steps):
        for group in opt.param_groups:
            group['lr'] = args.lr * (1 - it / args.steps) ** 0.9
        img, lab = cases[train_ids[rng.integers(len(train_ids))]]
        d, h, w = img.shape
        z, y, x = rng.integers(0, d - PATCH + 1), rng.integers(0, h - PATCH + 1), rng.integers(0, w - PATCH + 1)
        image = torch.from_numpy(crop(img, z, y, x).copy())[None, None]
        truth = torch.from_numpy(crop(lab, z, y, x).copy())[None]
        logits = net(image, rows)
        loss = tt.ga_ce(logits, truth) + tt.ga_dice(torch.softmax(logits, 1), truth)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % args.eval_every == 0 or it == args.steps - 1:
            mean, per = evaluate()
            organs = ' '.join(f'{c}:{100 * v:.0f}' for c, v in per.items() if v > 0.005)
            print(json.dumps({'init': args.init, 'text': args.text, 'seed': args.seed, 'step': it + 1, 'loss': round(loss.item(), 4),
                              'meanOrganDice': round(100 * mean, 2), 'organs': organs, 'seconds': round(time.time() - start)}), flush=True)


if __name__ == '__main__':
    main()
