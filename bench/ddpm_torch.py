"""The DDPM's training step in PyTorch, timed: the reference of `deno task bench --models ddpm`.

The network, batch, optimizer, loss and moving average match catgan's tfjs DDPM at the trainer's
defaults (models/ddpm.ts's buildUnet and predictNoise, models/adam.ts, train/guard.ts,
train/ddpm.ts's trainDdpmStep) operation for operation:

- U-Net of width w = 16 on [B, 3, 32, 32]: conv 3x3 p1 3 -> w; down, one residual block per
  resolution (32: w, 16: 2w, 8: 2w), each but the last followed by conv 3x3 s2 p1; two residual
  blocks in the middle; up, one residual block per resolution on the channel concatenation
  [h, skip] (h first), each but the last followed by nearest upsample x2 and conv 3x3 p1; then
  group norm, SiLU, conv 3x3 p1 to 3 channels. Every conv and linear layer has a bias;
- residual block: conv1(SiLU(norm1(x))) + linear(emb) per channel, then conv2(SiLU(norm2(h))),
  added to x, or to a 1x1 conv of x when the widths differ;
- group norms of 4 channels each (c / 4 groups), eps 1e-5, with per-channel scale and shift;
- time embedding: [sin(t f_i), cos(t f_i)] with f_i = exp(-ln(10000) i / (w/2 - 1)), i < w/2,
  then linear w -> 4w, SiLU, linear 4w -> 4w, SiLU once, shared by every block;
- initialisation: PyTorch's defaults, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
  norm scales 1 and shifts 0, which is what catgan's buildUnet reproduces;
- linear betas 1e-4 .. 0.02 over T = 1000 (float64, as catgan's schedule);
  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; loss mean((eps_theta(x_t, t) - eps)^2);
- one iteration: 16 timesteps uniform over [0, 1000) and fresh normal noise, the loss and its
  gradients, the finite check read back (catgan's guardedMinimize, one sync), the gradients
  scaled by min(1, 1 / max(global norm, 1e-12)), one Adam step (lr 2e-4, betas (0.9, 0.999),
  eps 1e-8), then ema = decay ema + (1 - decay) p with decay = min(0.999, (1 + n) / (10 + n))
  after the n-th update, and the loss read back with `.item()` (the sync that ends the clock).

Not mirrored: catgan draws the timesteps and noise on the CPU with its own generator and uploads
them; here torch draws them. The images are a fixed random batch on both sides (no data loading).

Prints one line `BENCH_RESULT {json}` on stdout, as bench/dcgan_torch.py does, with the U-Net's
trainable parameter count in `detail` and `params` (bench/ddpm_tfjs.ts prints its count on
stderr; the two must be equal). The losses have no discriminator: `D` is null, `G` the MSE.

Usage:
    python bench/ddpm_torch.py --threads 1 --iters 10 --warmup 2
"""

import argparse
import math
import sys
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dcgan_torch import run_timed  # noqa: E402

IMAGE_SIZE = 32
BATCH = 16
WIDTH = 16
CHANNEL_MULTS = (1, 2, 2)
GROUP_CHANNELS = 4
TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02
GRAD_CLIP = 1.0
EMA_DECAY = 0.999


def group_norm(channels):
    return nn.GroupNorm(channels // GROUP_CHANNELS, channels, eps=1e-5)


def timestep_embedding(t, dim):
    """[B] float timesteps -> [B, dim]: sines then cosines."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float32)
    freqs = torch.exp(-math.log(10000) * i / (half - 1))
    angles = t.view(-1, 1) * freqs.view(1, half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, inputs, outputs, emb_dim):
        super().__init__()
        self.norm1 = group_norm(inputs)
        self.conv1 = nn.Conv2d(inputs, outputs, 3, 1, 1)
        self.time = nn.Linear(emb_dim, outputs)
        self.norm2 = group_norm(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.skip = nn.Conv2d(inputs, outputs, 1, 1, 0) if inputs != outputs else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        # [B, outputs, 1, 1]: the same shift for every pixel of an image.
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Unet(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.width = w
        channels = [m * w for m in CHANNEL_MULTS]
        last = len(channels) - 1
        self.dense1 = nn.Linear(w, 4 * w)
        self.dense2 = nn.Linear(4 * w, 4 * w)
        self.inconv = nn.Conv2d(3, w, 3, 1, 1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = w
        for level in range(last + 1):
            self.down.append(ResBlock(c, channels[level], 4 * w))
            c = channels[level]
            if level < last:
                self.downsample.append(nn.Conv2d(c, c, 3, 2, 1))
        self.mid1 = ResBlock(c, c, 4 * w)
        self.mid2 = ResBlock(c, c, 4 * w)
        # Built from the last level up, as catgan builds them; upsample convs for levels > 0.
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in range(last, -1, -1):
            self.up.append(ResBlock(c + channels[level], channels[level], 4 * w))
            c = channels[level]
            if level > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, 1, 1))
        self.outnorm = group_norm(c)
        self.outconv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, x, t):
        last = len(CHANNEL_MULTS) - 1
        emb = self.dense2(F.silu(self.dense1(timestep_embedding(t, self.width))))
        emb = F.silu(emb)

        # [B, w, 32, 32] -> [B, 2w, 16, 16] -> [B, 2w, 8, 8], keeping each block's output.
        h = self.inconv(x)
        skips = []
        for level in range(last + 1):
            h = self.down[level](h, emb)
            skips.append(h)
            if level < last:
                h = self.downsample[level](h)
        h = self.mid2(self.mid1(h, emb), emb)

        # Up, from 8x8 to 32x32: each block sees the skip of its resolution.
        for i, level in enumerate(range(last, -1, -1)):
            h = self.up[i](torch.cat([h, skips[level]], dim=1), emb)
            if level > 0:
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.outconv(F.silu(self.outnorm(h)))


def linear_alphas_cumprod():
    betas = torch.linspace(BETA_START, BETA_END, TIMESTEPS, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0)


def make_step(args, extra):
    """Returns a function running one DDPM training iteration on a fixed real batch, and puts
    the U-Net's trainable parameter count into `extra`, the result's added fields."""
    unet = Unet(args.width)
    params = [p for p in unet.parameters() if p.requires_grad]
    count = sum(p.numel() for p in params)
    extra.update({"detail": f"torch {torch.__version__}, {count} parameters", "params": count})
    ema = [p.detach().clone() for p in params]
    adam = torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8)
    abar = linear_alphas_cumprod()
    x0 = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    updates = 0

    def step():
        nonlocal updates
        t = torch.randint(0, TIMESTEPS, (args.batch,))
        noise = torch.randn_like(x0)
        # [B, 1, 1, 1] per-image scales, computed in float64 and used in float32.
        signal = abar[t].sqrt().float().view(-1, 1, 1, 1)
        noise_scale = (1 - abar[t]).sqrt().float().view(-1, 1, 1, 1)
        xt = signal * x0 + noise_scale * noise

        adam.zero_grad(set_to_none=True)
        loss = torch.mean((unet(xt, t.float()) - noise) ** 2)
        loss.backward()
        grads = [p.grad for p in params]

        # Finite check, read back: 0 exactly when the loss and every gradient are finite.
        check = loss.detach() * 0 + sum((g * 0).sum() for g in grads)
        if check.item() == 0:
            with torch.no_grad():
                norm = torch.sqrt(sum((g * g).sum() for g in grads))
                scale = torch.clamp(GRAD_CLIP / torch.clamp(norm, min=1e-12), max=1.0)
                for g in grads:
                    g.mul_(scale)
            adam.step()
            updates += 1
            decay = min(EMA_DECAY, (1 + updates) / (10 + updates))
            with torch.no_grad():
                for e, p in zip(ema, params):
                    e.mul_(decay).add_(p, alpha=1 - decay)
        return math.nan, loss.item()

    return step


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations (default 3)")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per batch (default 16)")
    parser.add_argument("--width", type=int, default=WIDTH, help="U-Net width (default 16)")
    parser.add_argument("--sample-every", type=int, default=0, help="memory snapshot interval")
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    extra = {"width": args.width}
    run_timed(args, lambda a: make_step(a, extra), extra)


if __name__ == "__main__":
    main(sys.argv[1:])
