"""The course's CycleGAN with the cycle loss in PyTorch, timed: the reference side of
`deno task bench --models cyclegan` (patch discriminators) and `--models cyclegan-dc` (`--disc dc`).

The networks, batch, optimizers and losses match catgan's tfjs CycleGAN (models/cyclegan.ts,
models/layers.ts, models/adam.ts, train/cyclegan.ts's trainCycleGanStep) operation for operation:

- generator (two, A->B and B->A): conv 4x4 s2 p1 3 -> 32 and 32 -> 64 (64 -> 32 -> 16 px), each
  followed by instance norm + ReLU; three residual blocks h + relu(norm(conv 3x3 s1 p1 64 -> 64));
  then nearest upsample x2 + conv 3x3 s1 p1 64 -> 32, instance norm + ReLU, nearest upsample x2 +
  conv 3x3 s1 p1 32 -> 3, tanh;
- patch discriminator (two): convs 4x4 s2 p1 3 -> 32 -> 64 -> 128 with instance norm + ReLU, then
  conv 4x4 s2 p1 128 -> 1: a 4x4 grid of scores per image; with `--disc dc`, the DCGAN
  discriminator instead (bench/dcgan_torch.py's DcDiscriminator: 3 -> 32 -> 64 -> 128 -> 256, then
  conv 4x4 s1 p0 256 -> 1, one score per image);
- no biases, instance norm without affine parameters (eps 1e-5, biased variance), weights
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default conv bound, catgan's `initFilter`);
- batch 16 per domain at 64x64; one Adam (lr 3e-4, betas (0.5, 0.999), eps 1e-8) over both
  generators and one over both discriminators;
- D update: sum over both Ds of mean((D(real) - 1)^2) + mean(D(fake)^2), fakes made without a
  graph; G update: mean((D_B(G_AB(a)) - 1)^2) + mean((D_A(G_BA(b)) - 1)^2)
  + 10 * (mean|a - G_BA(G_AB(a))| + mean|b - G_AB(G_BA(b))|), fakes made again under the graph,
  D's weights frozen; both losses read back with `.item()` at the end (the sync).

Not mirrored: catgan's step also checks the loss and gradients for NaN before each update (one
sync each, train/guard.ts) and reads eight loss terms back; PyTorch's loop here has neither.

Prints one line `BENCH_RESULT {json}` on stdout, as bench/dcgan_torch.py does.

Usage:
    python bench/cyclegan_torch.py --threads 2 --iters 10 --warmup 2
"""

import argparse
import sys
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dcgan_torch import (  # noqa: E402
    DcDiscriminator,
    run_timed,
)

IMAGE_SIZE = 64
BATCH = 16
CONV_DIM = 32
RESIDUAL_BLOCKS = 3


def conv(in_channels, out_channels, kernel_size, stride, padding):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)


def norm(x):
    return F.instance_norm(x, eps=1e-5)


class Generator(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.down1 = conv(3, d, 4, 2, 1)
        self.down2 = conv(d, 2 * d, 4, 2, 1)
        self.res = nn.ModuleList([conv(2 * d, 2 * d, 3, 1, 1) for _ in range(RESIDUAL_BLOCKS)])
        self.up1 = conv(2 * d, d, 3, 1, 1)
        self.up2 = conv(d, 3, 3, 1, 1)

    def forward(self, x):
        h = F.relu(norm(self.down1(x)))
        h = F.relu(norm(self.down2(h)))
        for block in self.res:
            h = h + F.relu(norm(block(h)))
        h = F.relu(norm(self.up1(F.interpolate(h, scale_factor=2, mode="nearest"))))
        return torch.tanh(self.up2(F.interpolate(h, scale_factor=2, mode="nearest")))


class PatchDiscriminator(nn.Module):
    def __init__(self, d):
        super().__init__()
        widths = [3, d, 2 * d, 4 * d, 1]
        self.convs = nn.ModuleList([conv(widths[i], widths[i + 1], 4, 2, 1) for i in range(4)])

    def forward(self, x):
        h = x
        for layer in self.convs[:3]:
            h = F.relu(norm(layer(h)))
        # [B, 1, 4, 4]
        return self.convs[3](h)


def make_step(args):
    """Returns a function running one CycleGAN iteration on fixed real batches."""
    g_ab, g_ba = Generator(CONV_DIM), Generator(CONV_DIM)
    discriminator = PatchDiscriminator if args.disc == "patch" else DcDiscriminator
    d_a, d_b = discriminator(CONV_DIM), discriminator(CONV_DIM)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), lr=3e-4, betas=betas)
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=3e-4, betas=betas)
    real_a = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    real_b = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1

    def step():
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake_a, fake_b = g_ba(real_b), g_ab(real_a)
        loss_d = (
            torch.mean((d_a(real_a) - 1) ** 2)
            + torch.mean(d_a(fake_a) ** 2)
            + torch.mean((d_b(real_b) - 1) ** 2)
            + torch.mean(d_b(fake_b) ** 2)
        )
        loss_d.backward()
        opt_d.step()

        opt_g.zero_grad(set_to_none=True)
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        fake_b = g_ab(real_a)
        fake_a = g_ba(real_b)
        loss_g = torch.mean((d_b(fake_b) - 1) ** 2) + torch.mean((d_a(fake_a) - 1) ** 2)
        cycle = torch.mean(torch.abs(real_a - g_ba(fake_b))) + torch.mean(torch.abs(real_b - g_ab(fake_a)))
        loss_g = loss_g + 10 * cycle
        loss_g.backward()
        opt_g.step()
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)
        return loss_d.item(), loss_g.item()

    return step


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per batch and domain")
    parser.add_argument("--sample-every", type=int, default=0, help="memory snapshot interval")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--disc", choices=["patch", "dc"], default="patch", help="discriminators")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    run_timed(args, make_step, {"disc": args.disc})


if __name__ == "__main__":
    main(sys.argv[1:])
