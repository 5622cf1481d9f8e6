#!/usr/bin/python3
"""PyTorch CPU peer of tak-wgpu's training-iteration benchmark.

Runs ONE TAK-Semi training iteration (src/train/tak-step.ts `takStep`) of the same network
(src/models/tak-net.ts, src/models/vnet.ts) on the same batch shapes, repeatedly, and prints the
timing as one JSON line on stdout. Defaults are the `cpu` preset (src/train/presets.ts on top of
PAPER in src/train/config.ts): patch 64, 2 cubes per axis, 8 filters, 16 classes (AMOS),
1 labelled + 1 unlabelled crop (PAPER: 2 + 2), text width 512, contrastSamples 4.

One iteration, as takStep:
  1. student on the batch (encoder, decoder, text-driven head; projectors when contrast is on);
  2. cross-image cube mixing: encoder on the mixed batch, deep features and decoder output
     recovered, head on the recovered features;
  3. teacher (EMA, no grad) on the unlabelled crops + clamp(N(0, 0.1^2), +-0.2) noise
     -> softmax, argmax pseudo-labels, entropy;
  4. GA-CE + GA-Dice + GA-Dice(recovered) on the labelled crops;
  5. within-image partition: every image's n^3 cubes through the encoder, cube-location loss
     (FcLayer with BatchNorm1d over the n^3 cubes), averaged over the images;
  6. labelled cubes decoded and reassembled -> head -> GA-Dice; supervised sum / 4;
  7. (iteration > blendFromIter) teacher decoder + head on the student's unlabelled cube
     features (one dynamic head per cube), blended with the teacher output by the class
     distribution weights -> argmax, entropy;
  8. consistency GA-Dice of the recovered output on the unlabelled crops;
  9. (epoch > contrastStartEpoch) cross-modal SupCon over x3, x4, x5 of 6 views x B/2 maps;
 10. total = sup + 0.1 loc + lambda_u cons + lambda_c con; backward; SGD (nesterov, wd); EMA;
     poly learning rate.

The dynamic head runs as upstream writes it (Universal Model heads_forward: grouped 1x1x1
convolutions over the features repeated per class), unless --head chunked selects the
memory-bounded custom autograd function (slower: the head phase of a cpu-preset iteration took
4.96 s against 1.12 s, `--phases`; for batches whose hidden activations do not fit in memory). --phases profiles one more iteration and splits it into bench/train.ts's phases.

Usage:
  /usr/bin/python3 bench/torch_train.py --patch 64 --cubes 2 --filters 8 --classes 16 \
      --labeled 1 --unlabeled 1 --text-dim 512 --contrast-samples 4 --iters 3 --warmup 1 \
      --threads 2 [--no-text] [--no-contrast] [--no-blend] [--epoch E] [--iteration I] \
      [--head grouped|chunked] [--phases] [--device cpu|cuda]
  /usr/bin/python3 bench/torch_train.py --params-only --filters 16 --patch 96 --cubes 3
"""

import argparse
import json
import math
import os
import re
import sys
import time

# ---------------------------------------------------------------------------------------------
# Preset values (src/train/config.ts PAPER, overridden by src/train/presets.ts CPU).

CPU_PRESET = {
    'patch': 64,
    'cubes': 2,
    'filters': 8,
    'classes': 16,
    'labeled': 1,  # labeledBatch (cpu preset; PAPER has 2)
    'unlabeled': 1,  # unlabeledBatch (cpu preset; PAPER has 2)
    'text_dim': 512,
    'contrast_samples': 4,
    'seed': 1337,
    'lr': 0.1,  # cpu preset (PAPER 0.01)
    'momentum': 0.9,
    'weight_decay': 1e-4,
    'nesterov': True,
    'lr_decay_iters': 72,
    'lr_power': 0.9,
    'ema_decay': 0.99,
    'noise_std': 0.1,
    'noise_clip': 0.2,
    'blend_from_iter': 40,
    'class_log_interval': 10,
    't_dist': 1.0,
    'consistency_weight': 0.1,
    'consistency_ramp_epochs': 12,
    'location_weight': 0.1,
    'contrast_weight': 0.1,
    'contrast_start_epoch': 3,
    'temperature': 0.07,
    'entropy_ramp_epochs': 8,
}

DYNAMIC_PARAMS = 153  # W1 64, W2 64, W3 8, b1 8, b2 8, b3 1 (method-spec §6)


def fail(message):
    sys.stderr.write(f'torch_train.py: {message}\n')
    sys.exit(1)


def keep_freed_memory():
    """Large tensors otherwise come from mmap and go back to the kernel when freed, so every
    iteration page-faults its whole working set again (seconds per iteration on this VM; the
    usual remedy is jemalloc/tcmalloc). glibc's mallopt keeps freed memory in the heap instead."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
        return bool(libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1) and libc.mallopt(M_TOP_PAD, 256 << 20))
    except Exception:  # noqa: BLE001
        return False


TUNABLES = 'glibc.malloc.hugetlb=1'


def reexec_with_huge_pages():
    """Transparent huge pages are `madvise` here: glibc's malloc asks for them only with the
    glibc.malloc.hugetlb tunable, read at start-up, so the script re-executes itself once with it
    (first-touch page faults otherwise cost several seconds per cold iteration)."""
    if os.environ.get('TAK_TORCH_TRAIN_REEXEC') == '1':
        return
    env = dict(os.environ, TAK_TORCH_TRAIN_REEXEC='1')
    env['GLIBC_TUNABLES'] = ':'.join(x for x in (os.environ.get('GLIBC_TUNABLES', ''), TUNABLES) if x)
    try:
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    except OSError:
        pass  # carry on without huge pages


if __name__ != '__main__' or '--system-malloc' in sys.argv:  # imported (tests): leave the process alone
    MALLOC_TUNED = False
else:
    reexec_with_huge_pages()
    MALLOC_TUNED = keep_freed_memory() and TUNABLES in os.environ.get('GLIBC_TUNABLES', '')

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as error:  # noqa: BLE001
    fail(f'cannot import torch ({error}); install Debian python3-torch and run with /usr/bin/python3')


# ---------------------------------------------------------------------------------------------
# Network (VNet_Magic_CLIP_2p_Contrast; module names are upstream's state_dict keys).

class ConvBlock(nn.Module):
    """n x (Conv3d k3 p1 -> InstanceNorm3d (affine off) -> ReLU)."""

    def __init__(self, stages, cin, cout):
        super().__init__()
        layers = []
        for i in range(stages):
            layers += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1), nn.InstanceNorm3d(cout), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


class ResampleBlock(nn.Module):
    """Conv3d / ConvTranspose3d k2 s2 -> InstanceNorm3d -> ReLU."""

    def __init__(self, kind, cin, cout):
        super().__init__()
        conv = nn.Conv3d(cin, cout, 2, stride=2) if kind == 'down' else nn.ConvTranspose3d(cin, cout, 2, stride=2)
        self.conv = nn.Sequential(conv, nn.InstanceNorm3d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class FcLayer(nn.Module):
    """MagicNet's cube-location head: flatten -> Linear (no bias) -> BN1d(4096) -> LeakyReLU(0.2) -> Linear."""

    def __init__(self, in_features, positions):
        super().__init__()
        self.fc_layer = nn.Sequential(nn.Linear(in_features, 4096, bias=False), nn.BatchNorm1d(4096), nn.LeakyReLU(0.2), nn.Linear(4096, positions))

    def forward(self, x5):
        return self.fc_layer(x5.reshape(x5.shape[0], -1))


def gap_block(channels, out):
    """GAP_C: GroupNorm(min(16, C), C) -> ReLU -> AdaptiveAvgPool3d(1) -> Conv1x1 C -> E."""
    return nn.Sequential(nn.GroupNorm(min(16, channels), channels), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Conv3d(channels, out, 1))


def projector(channels):
    """features_to_C: conv1x1 -> InstanceNorm3d -> ReLU -> conv1x1."""
    return nn.Sequential(nn.Conv3d(channels, channels, 1), nn.InstanceNorm3d(channels), nn.ReLU(inplace=True), nn.Conv3d(channels, channels, 1))


HEAD_CHUNK = 4096  # voxels per block: the hidden activations of a block (16 classes x 8 x 4096 floats) stay in cache


def _head_params(t, k):
    """theta [K, 153] of one image -> W1 [8K, 8], b1 [8K, 1], W2 [K, 8, 8], b2 [K, 8, 1], W3 [K, 1, 8], b3 [K, 1, 1]."""
    return (t[:, 0:64].reshape(k * 8, 8).contiguous(), t[:, 136:144].reshape(k * 8, 1).contiguous(),
            t[:, 64:128].reshape(k, 8, 8).contiguous(), t[:, 144:152].reshape(k, 8, 1).contiguous(),
            t[:, 128:136].reshape(k, 1, 8).contiguous(), t[:, 152:153].reshape(k, 1, 1).contiguous())


def _hidden(hb, w1, b1, w2, b2, k):
    z1 = torch.mm(w1, hb).add_(b1)  # [8K, n]
    a1 = torch.relu(z1).view(k, 8, -1)
    z2 = torch.bmm(w2, a1).add_(b2)  # [K, 8, n]
    return z1, a1, z2, torch.relu(z2)


class DynamicHead(torch.autograd.Function):
    """Per image b and class k: z = W3 ReLU(W2 ReLU(W1 h + b1) + b2) + b3 (1x1x1 convs 8 -> 8 -> 8 -> 1).

    h [B, 8, S], theta [B, K, 153] -> logits [B, K, S]. Split order W1[0:64], W2[64:128],
    W3[128:136], b1[136:144], b2[144:152], b3[152]; W (out, in) row-major. Like tak-wgpu's fused
    kernel (src/ops/dynamic-head.ts) it never keeps the per-class hidden activations: it works on
    blocks of voxels, and the backward recomputes them block by block.
    """

    @staticmethod
    def forward(ctx, h, theta):
        batch, _, s = h.shape
        k = theta.shape[1]
        out = h.new_empty((batch, k, s))
        for b in range(batch):
            w1, b1, w2, b2, w3, b3 = _head_params(theta[b], k)
            for s0 in range(0, s, HEAD_CHUNK):
                hb = h[b, :, s0:s0 + HEAD_CHUNK]
                a2 = _hidden(hb, w1, b1, w2, b2, k)[3]
                out[b, :, s0:s0 + HEAD_CHUNK] = torch.bmm(w3, a2).add_(b3).view(k, -1)
        ctx.save_for_backward(h, theta)
        return out

    @staticmethod
    def backward(ctx, g):
        h, theta = ctx.saved_tensors
        batch, _, s = h.shape
        k = theta.shape[1]
        gh = torch.empty_like(h)
        gtheta = torch.empty_like(theta)
        for b in range(batch):
            w1, b1, w2, b2, w3, b3 = _head_params(theta[b], k)
            gw1, gb1, gw2, gb2, gw3, gb3 = [torch.zeros_like(w) for w in (w1, b1, w2, b2, w3, b3)]
            for s0 in range(0, s, HEAD_CHUNK):
                hb = h[b, :, s0:s0 + HEAD_CHUNK]
                z1, a1, z2, a2 = _hidden(hb, w1, b1, w2, b2, k)
                gz = g[b, :, s0:s0 + HEAD_CHUNK].unsqueeze(1)  # [K, 1, n]
                gw3 += torch.bmm(gz, a2.transpose(1, 2))
                gb3 += gz.sum(2, keepdim=True)
                gz2 = (w3.view(k, 8, 1) * gz).masked_fill_(z2 <= 0, 0)  # [K, 8, n]
                gw2 += torch.bmm(gz2, a1.transpose(1, 2))
                gb2 += gz2.sum(2, keepdim=True)
                gz1 = torch.bmm(w2.transpose(1, 2), gz2).view(k * 8, -1).masked_fill_(z1 <= 0, 0)  # [8K, n]
                gw1 += torch.mm(gz1, hb.t())
                gb1 += gz1.sum(1, keepdim=True)
                gh[b, :, s0:s0 + HEAD_CHUNK] = torch.mm(w1.t(), gz1)
            gtheta[b] = torch.cat([gw1.view(k, 64), gw2.view(k, 64), gw3.view(k, 8), gb1.view(k, 8), gb2.view(k, 8), gb3.view(k, 1)], 1)
        return gh, gtheta


def grouped_head(h, theta):
    """Upstream's heads_forward (Universal Model): per image, the features repeated K times and three
    grouped 1x1x1 convolutions (groups = K), autograd keeping every hidden activation. Faster than
    DynamicHead on 2 threads (`npm run bench -- heads`, B 2, K 16, 96^3: forward+backward 1.56 s
    against 3.65 s), but it holds ~5 [K*8, D, H, W] tensors per image: some GB per image at 96^3,
    over this machine's memory for the paper's batch."""
    k = theta.shape[1]
    outs = []
    for b in range(h.shape[0]):
        w1, b1, w2, b2, w3, b3 = _head_params(theta[b], k)
        x = h[b:b + 1].repeat(1, k, 1, 1, 1)
        x = F.relu(F.conv3d(x, w1.view(8 * k, 8, 1, 1, 1), b1.view(-1), groups=k))
        x = F.relu(F.conv3d(x, w2.reshape(8 * k, 8, 1, 1, 1), b2.view(-1), groups=k))
        outs.append(F.conv3d(x, w3.reshape(k, 8, 1, 1, 1), b3.view(-1), groups=k))
    return torch.cat(outs, 0)


def dynamic_head(h, theta, form='grouped'):
    """h [B, 8, D, H, W], theta [B, K, 153] -> logits [B, K, D, H, W] (method-spec §6).
    form: 'grouped' (upstream's grouped convolutions) or 'chunked' (DynamicHead, bounded memory)."""
    with phase('head'):
        if form == 'grouped':
            return grouped_head(h, theta)
        batch, _, *spatial = h.shape
        out = DynamicHead.apply(h.reshape(batch, 8, -1), theta)
        return out.view(batch, theta.shape[1], *spatial)


def head_case(form, batch, classes, size, train):
    """A zero-argument callable for bench/heads.ts: the dynamic head in `form` on random features
    [batch, 8, size^3] and parameters [batch, classes, 153]; forward (no grad) or forward+backward.
    Keeps freed memory in the calling process's heap as this script does for itself: otherwise
    every ~0.5 GB hidden activation of the grouped form is mapped and page-faulted afresh on each
    call (bench/heads.ts adds the huge-page tunable for the same reason)."""
    keep_freed_memory()
    h = torch.randn(batch, 8, size, size, size) * 0.5
    theta = torch.randn(batch, classes, DYNAMIC_PARAMS) * 0.3
    if not train:
        def forward():
            with torch.no_grad():
                dynamic_head(h, theta, form)
        return forward
    h.requires_grad_()
    theta.requires_grad_()
    seed = torch.randn(batch, classes, size, size, size)

    def forward_backward():
        dynamic_head(h, theta, form).backward(seed)
        h.grad = theta.grad = None
    return forward_backward


class TakNet(nn.Module):
    def __init__(self, classes, n_filters, patch, cubes, text, text_dim, head_form='grouped'):
        super().__init__()
        f = n_filters
        self.head_form = head_form
        edge = patch // cubes
        if patch % cubes or edge % 16:
            raise ValueError(f'patch {patch} / {cubes} cubes per axis gives cube edge {patch / cubes}; it must be a multiple of 16')
        self.classes, self.f, self.text = classes, f, text
        self.fc_layer = FcLayer(16 * f * (edge // 16) ** 3, cubes ** 3)
        self.block_one = ConvBlock(1, 1, f)
        self.block_one_dw = ResampleBlock('down', f, 2 * f)
        self.block_two = ConvBlock(2, 2 * f, 2 * f)
        self.block_two_dw = ResampleBlock('down', 2 * f, 4 * f)
        self.block_three = ConvBlock(3, 4 * f, 4 * f)
        self.block_three_dw = ResampleBlock('down', 4 * f, 8 * f)
        self.block_four = ConvBlock(3, 8 * f, 8 * f)
        self.block_four_dw = ResampleBlock('down', 8 * f, 16 * f)
        self.block_five = ConvBlock(3, 16 * f, 16 * f)
        self.block_five_up = ResampleBlock('up', 16 * f, 8 * f)
        self.block_six = ConvBlock(3, 8 * f, 8 * f)
        self.block_six_up = ResampleBlock('up', 8 * f, 4 * f)
        self.block_seven = ConvBlock(3, 4 * f, 4 * f)
        self.block_seven_up = ResampleBlock('up', 4 * f, 2 * f)
        self.block_eight = ConvBlock(2, 2 * f, 2 * f)
        self.block_eight_up = ResampleBlock('up', 2 * f, f)
        self.block_nine = ConvBlock(1, f, f)
        if not text:
            self.out_conv = nn.Conv3d(f, classes, 1)
            return
        e = 16 * f
        self.e = e
        self.text_to_64 = nn.Sequential(nn.Linear(text_dim, 4 * f), nn.ReLU())
        self.text_to_128 = nn.Sequential(nn.Linear(text_dim, 8 * f), nn.ReLU())
        self.text_to_256 = nn.Sequential(nn.Linear(text_dim, e), nn.ReLU())
        self.text_to_vision = nn.Sequential(nn.Linear(2 * e, e), nn.ReLU())
        self.Gap_64 = gap_block(4 * f, e)
        self.GAP_128 = gap_block(8 * f, e)
        self.GAP_256 = gap_block(16 * f, e)
        self.controller = nn.Conv3d(2 * e, DYNAMIC_PARAMS, 1)
        self.precls_conv = nn.Sequential(nn.GroupNorm(min(16, f), f), nn.ReLU(), nn.Conv3d(f, 8, 1))
        self.features_to_64 = projector(4 * f)
        self.features_to_128 = projector(8 * f)
        self.features_to_256 = projector(16 * f)

    def encode(self, x):
        x1 = self.block_one(x)
        x2 = self.block_two(self.block_one_dw(x1))
        x3 = self.block_three(self.block_two_dw(x2))
        x4 = self.block_four(self.block_three_dw(x3))
        x5 = self.block_five(self.block_four_dw(x4))
        return [x1, x2, x3, x4, x5]

    def decode(self, feats):
        x1, x2, x3, x4, x5 = feats
        x6 = self.block_six(self.block_five_up(x5) + x4)
        x7 = self.block_seven(self.block_six_up(x6) + x3)
        x8 = self.block_eight(self.block_seven_up(x7) + x2)
        return self.block_nine(self.block_eight_up(x8) + x1)

    def embed_text(self, rows):
        """rows [2C, D] ([shape | position]) -> (clip [C, E], anchors [t64, t128, t256])."""
        c = self.classes
        t256 = self.text_to_256(rows)
        clip = self.text_to_vision(torch.cat([t256[:c], t256[c:2 * c]], 1))
        return clip, [self.text_to_64(rows), self.text_to_128(rows), t256]

    def project(self, deep):
        return [self.features_to_64(deep[0]), self.features_to_128(deep[1]), self.features_to_256(deep[2])]

    def head(self, deep, x9, text):
        if not self.text:
            return self.out_conv(x9)
        clip = text[0]
        x3, x4, x5 = deep
        g = (self.Gap_64(x3).flatten(1) + self.GAP_128(x4).flatten(1) + self.GAP_256(x5).flatten(1)) * (1 / 3)  # [B, E]
        w = self.controller.weight.reshape(DYNAMIC_PARAMS, 2 * self.e)
        theta = F.linear(g, w[:, :self.e]).unsqueeze(1) + F.linear(clip, w[:, self.e:], self.controller.bias).unsqueeze(0)  # [B, C, 153]
        h = self.precls_conv(x9)  # [B, 8, D, H, W]
        return dynamic_head(h, theta, self.head_form)

    def locate(self, x5):
        return self.fc_layer(x5)

    def forward(self, x, rows):
        feats = self.encode(x)
        text = self.embed_text(rows) if self.text else None
        return self.head(feats[2:], self.decode(feats), text)


def parameter_count(model, skip_prefix=None):
    return sum(p.numel() for name, p in model.named_parameters() if not (skip_prefix and name.startswith(skip_prefix)))


# ---------------------------------------------------------------------------------------------
# Cubes (src/ops/cubes.ts): partition k = n^2 x + n y + z, correct reassembly, cross-image mixing.

def partition_cubes(x, n):
    b, c, d, h, w = x.shape
    sd, sh, sw = d // n, h // n, w // n
    return x.reshape(b, c, n, sd, n, sh, n, sw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b * n ** 3, c, sd, sh, sw)


def assemble_cubes(cubes, n):
    bn, c, sd, sh, sw = cubes.shape
    b = bn // n ** 3
    return cubes.reshape(b, n, n, n, c, sd, sh, sw).permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, c, n * sd, n * sh, n * sw)


def _mix(x, source, n):
    b, c = x.shape[:2]
    count = n ** 3
    cubes = partition_cubes(x, n).reshape(b, count, c, *[s // n for s in x.shape[2:]])
    mixed = cubes[source, torch.arange(count).unsqueeze(0)]
    return assemble_cubes(mixed.reshape(b * count, *mixed.shape[2:]), n)


class MixCubes(torch.autograd.Function):
    """Cross-image cube mixing; its VJP is the mixing by the inverse permutation (as tak-wgpu)."""

    @staticmethod
    def forward(ctx, x, source, inverse, n):
        ctx.inverse, ctx.n = inverse, n
        return _mix(x, source, n)

    @staticmethod
    def backward(ctx, g):
        return _mix(g, ctx.inverse, ctx.n), None, None, None


def mix_cubes(x, source, n):
    """Image b, cube c of the result = image source[b, c], cube c (source [B, n^3], long)."""
    inverse = torch.argsort(source, dim=0)
    return MixCubes.apply(x, source, inverse, n) if x.requires_grad else _mix(x, source, n)


def location_targets(n):
    out = torch.empty(n ** 3, dtype=torch.long)
    for x in range(n):
        for y in range(n):
            for z in range(n):
                out[n * n * x + n * y + z] = x + n * y + n * n * z
    return out


# ---------------------------------------------------------------------------------------------
# Losses (src/ops/losses.ts, src/ops/contrastive.ts; method-spec §4, §7).

def ga_dice(p, y):
    """GA Dice over probabilities [B, C, ...] and labels [B, ...]: present class
    1 - (2I + 1e-10)/(P + T + 1e-10), absent class sum sg(p/N) p (value P/N, gradient p/N), mean over C."""
    c = p.shape[1]
    flat = y.reshape(-1)
    dims = [0] + list(range(2, p.dim()))
    inter = torch.zeros(c, dtype=p.dtype).scatter_add(0, flat, p.gather(1, y.unsqueeze(1)).reshape(-1))  # sum p t
    squares = (p * p).sum(dims)
    counts = torch.bincount(flat, minlength=c).to(p.dtype)
    voxels = p.numel() / c
    dice = 1 - (2 * inter + 1e-10) / (squares + counts + 1e-10)
    absent = (squares + squares.detach()) / (2 * voxels)  # value P/N, d/dp = p/N
    return torch.where(counts > 0, dice, absent).mean()


def ga_ce(logits, y, percent=10, gamma=0.5):
    """GA cross-entropy: voxelwise CE, top K = floor(n percent / 100), class-balanced by the
    counts n_c inside the top K: sum ce_i / ((n_c + 1e-10)^(1-gamma) K^gamma + 1e-10)."""
    c = logits.shape[1]
    ce = F.cross_entropy(logits, y, reduction='none').reshape(-1)
    k = ce.numel() * percent // 100
    values, index = torch.topk(ce, k, sorted=False)
    chosen = y.reshape(-1)[index]
    counts = torch.bincount(chosen, minlength=c).to(ce.dtype)
    coef = 1 / ((counts + 1e-10) ** (1 - gamma) * k ** gamma + 1e-10)
    return (values * coef[chosen]).sum()


def entropy_of(p):
    return -(p * torch.log(p + 1e-6)).sum(1)


def sample_anchors(features, labels, per_class, classes):
    """Per map and class present (-1 ignored): all voxels when at most per_class, else per_class
    uniformly at random. Labels nearest-downsampled (strided) to the features' resolution."""
    m, cf = features.shape[:2]
    step = labels.shape[1] // features.shape[2]
    lab = labels[:, ::step, ::step, ::step].reshape(m, -1)
    s = lab.shape[1]
    flat = lab.reshape(-1)
    valid = torch.nonzero(flat >= 0).squeeze(1)
    if valid.numel() == 0:
        return features.new_zeros((0, cf)), flat.new_zeros(0)
    group = (valid // s) * (classes + 1) + flat[valid]
    order = torch.argsort(group.double() + torch.rand(valid.numel(), dtype=torch.float64))
    sorted_group = group[order]
    _, counts = torch.unique_consecutive(sorted_group, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(valid.numel()) - torch.repeat_interleave(starts, counts)
    chosen = valid[order[rank < per_class]]
    feats = features.reshape(m, cf, s)[chosen // s, :, chosen % s]  # [K, Cf]
    return feats, flat[chosen]


def supcon(anchors, labels, tau):
    a = F.normalize(anchors, dim=1)
    s = a @ a.t() / tau
    s = s - s.max(1, keepdim=True).values.detach()
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    neg = (~same).to(s.dtype)
    e = torch.exp(s)
    negsum = (e * neg).sum(1, keepdim=True)
    term = s - torch.log(e + negsum)
    posf = pos.to(s.dtype)
    return (-(term * posf).sum(1) / (posf.sum(1) + 1e-5)).mean()


def contrastive_stage(features, labels, text, text_labels, per_class, classes, tau):
    feats, lab = sample_anchors(features, labels, per_class, classes)
    return supcon(torch.cat([feats, text], 0), torch.cat([lab, text_labels]), tau)


# ---------------------------------------------------------------------------------------------
# Schedules (src/train/schedules.ts).

def sigmoid_rampup(current, length):
    if length == 0:
        return 1.0
    t = min(max(current, 0), length) / length
    return math.exp(-5 * (1 - t) * (1 - t))


class ClassDistribution:
    def __init__(self, classes):
        self.classes = classes
        self.pending = torch.zeros(classes, dtype=torch.float64)
        self.current = torch.zeros(classes, dtype=torch.float64)
        self.pending_iters = 0

    def append(self, counts):
        self.pending += counts
        self.pending_iters += 1

    def maybe_update(self, iteration, interval):
        if iteration % interval or not self.pending_iters:
            return
        self.current, self.pending, self.pending_iters = self.pending, torch.zeros(self.classes, dtype=torch.float64), 0

    def weights(self, temperature):
        powered = self.current ** (1 / temperature)
        total = powered.sum()
        if total == 0:
            return torch.zeros(self.classes)
        normalised = powered / total
        return (normalised / normalised.max()).float()


# ---------------------------------------------------------------------------------------------
# Phase split (--phases): the same phases as bench/train.ts gives tak-wgpu's kernels.

def phase(name):
    """A profiler scope for code whose ops belong to one phase whatever their kind (a no-op unless profiling)."""
    return torch.autograd.profiler.record_function(f'phase:{name}')


# An op not inside a phase scope is classified by its own name or its nearest ancestor's (innermost
# first); backward ops by their autograd node, or by the scope of the forward op they differentiate.
PHASE_RULES = [
    ('backbone', re.compile(r'conv|Convolution|batch_norm|BatchNorm|instance_norm|group_norm|GroupNorm|MixCubes|relu|Relu|threshold|clamp_min')),
    ('head', re.compile(r'aten::(mm|addmm|bmm|linear|matmul)\b|softmax|Softmax|MmBackward|AddmmBackward|BmmBackward')),
]


def phase_split(prof, wall_ms):
    """Self CPU time per phase, as % of the profiled iteration's wall time; `python` is the rest
    (the interpreter between ops). Events: torch.profiler's FunctionEvents (cpu_parent, sequence_nr)."""
    events = prof.profiler.function_events

    def chain(e):
        while e is not None:
            yield e
            e = e.cpu_parent

    forward_phase = {}
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith('autograd::'):
            scope = next((a.name[6:] for a in chain(e) if a.name.startswith('phase:')), None)
            if scope:
                forward_phase[e.sequence_nr] = scope

    def classify(e):
        for a in chain(e):
            if a.name.startswith('phase:'):
                return a.name[6:]
            if a.name.startswith('Optimizer.'):
                return 'optimizer'
            if a.name.startswith('autograd::engine::evaluate_function') and a.sequence_nr in forward_phase:
                return forward_phase[a.sequence_nr]
        for n in (a.name for a in chain(e)):
            for name, pattern in PHASE_RULES:
                if pattern.search(n):
                    return name
        return 'glue'

    totals = {name: 0.0 for name in ('backbone', 'head', 'losses', 'optimizer', 'glue')}
    for e in events:
        totals[classify(e)] += e.self_cpu_time_total / 1000
    shares = {name: 100 * ms / wall_ms for name, ms in totals.items()}
    shares['python'] = max(0.0, 100 - sum(shares.values()))
    return shares


# ---------------------------------------------------------------------------------------------
# One iteration (src/train/tak-step.ts takStep).

def tak_step(cfg, student, teacher, optimizer, distribution, x, labels, text_rows, iteration, epoch, source=None):
    """One iteration; `source` [B, n^3] fixes the cross-image cube permutation (random when None)."""
    L = labels.shape[0]
    B = x.shape[0]
    n = cfg['cubes']
    cubes = n ** 3
    classes = cfg['classes']
    do_contrast = cfg['contrast'] and epoch > cfg['contrast_start_epoch']
    lambda_u = cfg['consistency_weight'] * sigmoid_rampup(epoch, cfg['consistency_ramp_epochs'])
    lambda_c = cfg['contrast_weight'] if do_contrast else 0.0
    blended = cfg['blend'] and iteration > cfg['blend_from_iter']
    truth = labels

    text = student.embed_text(text_rows) if cfg['text'] else None

    # 1. Student on the batch.
    features = student.encode(x)
    projected = student.project(features[2:]) if do_contrast else None
    out = student.head(features[2:], student.decode(features), text)

    # 2. Cross-image partition and recovery.
    if source is None:
        source = torch.argsort(torch.rand(B, cubes), dim=0)
    inverse = torch.argsort(source, dim=0)
    mixed = student.encode(mix_cubes(x, source, n))
    recovered = [mix_cubes(f, inverse, n) for f in mixed[2:]]
    projected_mix = [mix_cubes(f, inverse, n) for f in student.project(mixed[2:])] if do_contrast else None
    out_unmix = student.head(recovered, mix_cubes(student.decode(mixed), inverse, n), text)

    # 3. Teacher pseudo-labels on the noisy unlabelled crops.
    unlabeled = x[L:]
    with torch.no_grad():
        noise = torch.clamp(torch.randn_like(unlabeled) * cfg['noise_std'], -cfg['noise_clip'], cfg['noise_clip'])
        teacher_out = teacher(unlabeled + noise, text_rows)
        teacher_soft = torch.softmax(teacher_out, 1)
        pseudo = torch.argmax(teacher_soft, 1)
        entropy = entropy_of(teacher_soft)

    # 4. Supervised terms on the labelled crops.
    out_soft = torch.softmax(out, 1)
    unmix_soft = torch.softmax(out_unmix, 1)
    with phase('losses'):
        supervised = ga_ce(out[:L], truth) + ga_dice(out_soft[:L], truth) + ga_dice(unmix_soft[:L], truth)

    # 5. Within-image partition: cube-location loss per image.
    image_cubes = partition_cubes(x, n)
    targets = location_targets(n)
    cube_features = []
    location = 0.0
    for b in range(B):
        f = student.encode(image_cubes[b * cubes:(b + 1) * cubes])
        cube_features.append(f)
        logits = student.locate(f[4])
        with phase('losses'):
            location = location + F.cross_entropy(logits, targets)
    location = location / B

    # 6. Labelled cubes decoded and reassembled; one head per image.
    within = student.head(
        [torch.cat([assemble_cubes(f[i], n) for f in cube_features[:L]], 0) for i in (2, 3, 4)],
        torch.cat([assemble_cubes(student.decode(f), n) for f in cube_features[:L]], 0),
        text,
    )
    within_soft = torch.softmax(within, 1)
    with phase('losses'):
        supervised = (supervised + ga_dice(within_soft, truth)) / 4

    # 7. Cube-wise pseudo-label blending (no gradient): teacher decoder + head per cube.
    blend = None
    if blended:
        with torch.no_grad():
            weights = distribution.weights(cfg['t_dist'])
            weight_map = weights[pseudo].unsqueeze(1)
            text_ng = (text[0].detach(), [t.detach() for t in text[1]]) if text else None
            cube_logits = [assemble_cubes(teacher.head([t.detach() for t in f[2:]], teacher.decode([t.detach() for t in f]), text_ng), n) for f in cube_features[L:]]
            mixed_pl = (1 - weight_map) * teacher_out + weight_map * torch.cat(cube_logits, 0)
            soft = torch.softmax(mixed_pl, 1)
            blend = (torch.argmax(soft, 1), entropy_of(soft))
    target = blend[0] if blend else pseudo
    distribution.append(torch.bincount(target.reshape(-1), minlength=classes).double())
    distribution.maybe_update(iteration, cfg['class_log_interval'])

    # 8. Consistency of the recovered output on the unlabelled crops.
    with phase('losses'):
        consistency = ga_dice(unmix_soft[L:], target)

    # 9. Cross-modal contrastive alignment over x3, x4, x5.
    contrast = torch.zeros(())
    if do_contrast and text:
        within_projected = [[assemble_cubes(p, n) for p in student.project(f[2:])] for f in cube_features]
        threshold = math.log(2) * (0.75 + 0.25 * sigmoid_rampup(epoch, cfg['entropy_ramp_epochs']))
        ignore = lambda lab, h: torch.where(h > threshold, torch.full_like(lab, -1), lab)  # noqa: E731
        stage_labels = torch.cat([truth, truth, truth, ignore(pseudo, entropy), ignore(pseudo, entropy), ignore(target, blend[1] if blend else entropy)], 0)
        text_labels = torch.arange(2 * classes) % classes
        for s in range(3):
            maps = torch.cat([
                projected[s][:L], projected_mix[s][:L], torch.cat([w[s] for w in within_projected[:L]], 0),
                projected[s][L:], projected_mix[s][L:], torch.cat([w[s] for w in within_projected[L:]], 0),
            ], 0)
            per_class = cfg['contrast_samples'] * [4, 2, 1][s]
            with phase('losses'):
                contrast = contrast + contrastive_stage(maps, stage_labels, text[1][s], text_labels, per_class, classes, cfg['temperature'])

    # 10. Total loss, backward, optimiser, EMA, poly learning rate.
    total = supervised + location * cfg['location_weight'] + consistency * lambda_u + contrast * lambda_c
    total.backward()
    loss = float(total.item())
    with phase('optimizer'):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        alpha = min(1 - 1 / (iteration + 1), cfg['ema_decay'])
        with torch.no_grad():
            for t, s_ in zip(teacher.parameters(), student.parameters()):
                t.mul_(alpha).add_(s_, alpha=1 - alpha)
    for group in optimizer.param_groups:
        group['lr'] = cfg['lr'] * max(0.0, 1 - (iteration + 1) / cfg['lr_decay_iters']) ** cfg['lr_power']
    return loss, do_contrast, blended


# ---------------------------------------------------------------------------------------------

def busy_ms():
    try:
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v) - v[3] - v[4]) * 10.0
    except Exception:  # noqa: BLE001
        return float('nan')


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch CPU peer of tak-wgpu's training iteration (takStep).")
    d = CPU_PRESET
    p.add_argument('--patch', type=int, default=d['patch'])
    p.add_argument('--cubes', type=int, default=d['cubes'])
    p.add_argument('--filters', type=int, default=d['filters'])
    p.add_argument('--classes', type=int, default=d['classes'])
    p.add_argument('--labeled', type=int, default=d['labeled'])
    p.add_argument('--unlabeled', type=int, default=d['unlabeled'])
    p.add_argument('--text-dim', type=int, default=d['text_dim'])
    p.add_argument('--contrast-samples', type=int, default=d['contrast_samples'])
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=d['seed'])
    p.add_argument('--epoch', type=int, default=d['contrast_start_epoch'] + 1,
                   help='epoch index of the timed iterations (default: the first with the contrastive loss on)')
    p.add_argument('--iteration', type=int, default=d['blend_from_iter'] + 1,
                   help='iteration index (default: the first with cube-wise pseudo-label blending)')
    p.add_argument('--no-text', action='store_true', help='MagicNet + GA baseline head (1x1x1 conv); implies no contrast is allowed')
    p.add_argument('--no-contrast', action='store_true')
    p.add_argument('--no-blend', action='store_true', help='skip step 7 (as for iterations <= blendFromIter)')
    p.add_argument('--system-malloc', action='store_true', help="leave glibc's malloc defaults (no huge pages; freed large tensors unmapped)")
    p.add_argument('--params-only', action='store_true', help='build the student only and print its parameter count')
    p.add_argument('--head', choices=['grouped', 'chunked'], default='grouped',
                   help="dynamic head: upstream's grouped convolutions (default) or the chunked custom autograd function (bounded memory, for the paper's batch)")
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu', help='where the peer runs (cuda: a GPU peer, PyTorch >= 2.0)')
    p.add_argument('--phases', action='store_true', help='after the timed iterations, profile one more and report the share of each phase (torch.profiler)')
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    if a.threads < 1 or a.iters < 1 or a.warmup < 0:
        fail('--threads and --iters must be >= 1, --warmup >= 0')
    if a.labeled < 1 or a.unlabeled < 1:
        fail('--labeled and --unlabeled must be >= 1')
    if a.filters < 4 or a.filters % 4:
        fail(f'--filters {a.filters} must be a multiple of 4 (GroupNorm groups)')
    if a.patch % a.cubes or (a.patch // a.cubes) % 16:
        fail(f'patch {a.patch} with {a.cubes} cubes per axis gives cubes of {a.patch / a.cubes} voxels; use a patch that is {a.cubes}*16*k')
    if a.no_text and not a.no_contrast:
        fail('the contrastive loss aligns features with text anchors: --no-text needs --no-contrast')
    torch.set_num_threads(a.threads)
    if a.device == 'cuda':
        # A GPU peer for tak-wgpu on a GPU adapter. Factory calls without a device (here and in the
        # losses) then allocate on the GPU; torch.set_default_device needs PyTorch >= 2.0.
        if not torch.cuda.is_available() or not hasattr(torch, 'set_default_device'):
            fail(f'--device cuda needs a CUDA build of PyTorch >= 2.0 with a visible GPU (torch {torch.__version__})')
        if a.phases:
            fail('--phases splits CPU time; use it with --device cpu')
        torch.set_default_device('cuda')
    torch.manual_seed(a.seed)
    text = not a.no_text
    student = TakNet(a.classes, a.filters, a.patch, a.cubes, text, a.text_dim, a.head)
    params = parameter_count(student)
    if a.params_only:
        print(json.dumps({
            'params': params,
            'params_without_projectors': parameter_count(student, 'features_to_'),
            'patch': a.patch, 'cubes': a.cubes, 'filters': a.filters, 'classes': a.classes, 'text': text, 'text_dim': a.text_dim,
            'torch': torch.__version__,
        }))
        return
    teacher = TakNet(a.classes, a.filters, a.patch, a.cubes, text, a.text_dim, a.head)
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.train()
    teacher.train()  # upstream keeps the teacher in train() mode
    cfg = dict(CPU_PRESET, patch=a.patch, cubes=a.cubes, filters=a.filters, classes=a.classes, text_dim=a.text_dim,
               contrast_samples=a.contrast_samples, text=text, contrast=not a.no_contrast, blend=not a.no_blend)
    optimizer = torch.optim.SGD(student.parameters(), lr=cfg['lr'], momentum=cfg['momentum'], weight_decay=cfg['weight_decay'], nesterov=cfg['nesterov'])
    distribution = ClassDistribution(a.classes)

    P, L, U = a.patch, a.labeled, a.unlabeled
    x = torch.rand(L + U, 1, P, P, P)
    labels = torch.randint(0, a.classes, (L, P, P, P))
    text_rows = torch.randn(2 * a.classes, a.text_dim) * 0.2 if text else None

    times, others = [], []
    cpus = os.cpu_count() or 1
    flags = (False, False)
    for i in range(a.warmup + a.iters):
        b0, c0, t0 = busy_ms(), time.process_time(), time.perf_counter()
        loss, *flags = tak_step(cfg, student, teacher, optimizer, distribution, x, labels, text_rows, a.iteration, a.epoch)
        if a.device == 'cuda':
            torch.cuda.synchronize()  # the optimiser and EMA after .item() are still queued
        wall = time.perf_counter() - t0
        if not math.isfinite(loss):
            fail(f'the loss became {loss} at repetition {i}')
        if i >= a.warmup:
            times.append(wall * 1000)
            others.append(max(0.0, (busy_ms() - b0 - (time.process_time() - c0) * 1000) / (cpus * wall * 1000)))
    phases = None
    if a.phases:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            tak_step(cfg, student, teacher, optimizer, distribution, x, labels, text_rows, a.iteration, a.epoch)
            wall = (time.perf_counter() - t0) * 1000
        phases = dict(phase_split(prof, wall), profiled_ms=wall)
    print(json.dumps({
        'ms_per_iter': sum(times) / len(times),
        'phases': phases,
        'iters': a.iters,
        'threads': a.threads,
        'torch': torch.__version__,
        'params': params,
        'patch': a.patch,
        'filters': a.filters,
        'batch': [L, U],
        'cubes': a.cubes,
        'classes': a.classes,
        'text': text,
        'head': a.head,
        'contrast': bool(flags[0]),
        'blend': bool(flags[1]),
        'epoch': a.epoch,
        'iteration': a.iteration,
        'ms_each': [round(t, 1) for t in times],
        'min_ms': min(times),
        'others_share': sum(others) / len(others),
        'malloc_tuned': MALLOC_TUNED,
        'device': torch.cuda.get_device_name() if a.device == 'cuda' else 'cpu',
        'peak_gpu_mb': torch.cuda.max_memory_allocated() / 2 ** 20 if a.device == 'cuda' else None,
        'loss': loss,
    }))


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001
        fail(f'{type(error).__name__}: {error}')
