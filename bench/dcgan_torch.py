"""The course's DCGAN in PyTorch, timed: the reference side of `deno task bench`.

The network, batch and losses match catgan's tfjs DCGAN (models/dcgan.ts, train/dcgan.ts):

- generator: z [B, 100, 1, 1] -> conv 4x4 pad 3 (on a 1x1 input this is the dense projection
  catgan uses) -> [B, 256, 4, 4], then four stages of nearest upsample x2 + conv 3x3 s1 p1 to
  128x8x8, 64x16x16, 32x32x32, 3x64x64; instance norm + ReLU after every stage but the last,
  tanh at the end;
- discriminator: four convs 4x4 s2 p1 (3 -> 32 -> 64 -> 128 -> 256, 64 -> 4 spatially), each
  followed by instance norm + ReLU, then conv 4x4 p0 256 -> 1, one score per image;
- no biases (the course's `conv` helper omits them everywhere; most convs feed an instance
  norm, which would cancel a bias anyway), instance norm without affine parameters (PyTorch's
  default, and catgan's choice);
- batch 16 at 64x64, Adam lr 2e-4, betas (0.5, 0.999), least-squares losses
  J_D = 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2), J_G = mean((D(G(z)) - 1)^2);
- one iteration is one D step then one G step on fresh noise, uniform in [-1, 1].

By default the loop does the same work as catgan's trainStep: the fakes for the D step are made
without recording a graph, and D's weights get no gradient during the G step. `--course-loop`
runs the course's loop literally instead (fakes recorded then detached, D's weight gradients
computed in the G step and thrown away), which is slightly slower. `--diffaug` applies
DiffAugment (color, translation, cutout; Zhao et al. 2020, as in DiffAugment-pytorch) to real
and fake images before D; without it neither side augments.

Prints one JSON object on stdout: ms_per_iter (median of the timed iterations), torch_version,
threads and a few more facts.

Usage:
    python bench/dcgan_torch.py --threads 2 --iters 20 --warmup 3
"""

import argparse
import json
import resource
import statistics
import sys
import time
import warnings

# Torch warns on import when numpy is missing; the bench needs no numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

NOISE_SIZE = 100
IMAGE_SIZE = 64
BATCH = 16
CONV_DIM = 32


def conv(in_channels, out_channels, kernel_size, stride, padding):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)


class DcGenerator(nn.Module):
    def __init__(self, conv_dim, projection):
        super().__init__()
        widths = [8 * conv_dim, 4 * conv_dim, 2 * conv_dim, conv_dim, 3]
        self.first = widths[0]
        if projection == "conv":
            self.project = conv(NOISE_SIZE, widths[0], 4, 1, 3)
        else:
            self.project = nn.Linear(NOISE_SIZE, widths[0] * 16, bias=False)
        stages = []
        for i in range(4):
            stages += [nn.Upsample(scale_factor=2, mode="nearest"), conv(widths[i], widths[i + 1], 3, 1, 1)]
            stages += [nn.InstanceNorm2d(widths[i + 1]), nn.ReLU()] if i < 3 else [nn.Tanh()]
        self.stages = nn.Sequential(*stages)
        self.norm = nn.InstanceNorm2d(widths[0])

    def forward(self, z):
        if isinstance(self.project, nn.Conv2d):
            h = self.project(z)
        else:
            h = self.project(z.flatten(1)).view(-1, self.first, 4, 4)
        # [B, 256, 4, 4] -> [B, 3, 64, 64]
        return self.stages(F.relu(self.norm(h)))


class DcDiscriminator(nn.Module):
    def __init__(self, conv_dim):
        super().__init__()
        widths = [3, conv_dim, 2 * conv_dim, 4 * conv_dim, 8 * conv_dim]
        layers = []
        for i in range(4):
            # floor((n + 2 - 4) / 2) + 1 = n / 2: pad 1 halves an even side exactly.
            layers += [conv(widths[i], widths[i + 1], 4, 2, 1), nn.InstanceNorm2d(widths[i + 1]), nn.ReLU()]
        layers.append(conv(widths[4], 1, 4, 1, 0))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        # [B, 1, 1, 1] -> [B]
        return self.layers(x).view(-1)


# DiffAugment, NCHW, after Zhao et al.'s DiffAugment-pytorch (BSD-2-Clause).


def rand_brightness(x):
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) - 0.5)


def rand_saturation(x):
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) * 2) + mean


def rand_contrast(x):
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) + 0.5) + mean


def rand_translation(x, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    tx = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1])
    ty = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1])
    gb, gx, gy = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    gx = torch.clamp(gx + tx + 1, 0, x.size(2) + 1)
    gy = torch.clamp(gy + ty + 1, 0, x.size(3) + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def rand_cutout(x, ratio=0.5):
    size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    ox = torch.randint(0, x.size(2) + (1 - size[0] % 2), size=[x.size(0), 1, 1])
    oy = torch.randint(0, x.size(3) + (1 - size[1] % 2), size=[x.size(0), 1, 1])
    gb, gx, gy = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(size[0]), torch.arange(size[1]), indexing="ij"
    )
    gx = torch.clamp(gx + ox - size[0] // 2, min=0, max=x.size(2) - 1)
    gy = torch.clamp(gy + oy - size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


AUGMENT_OPS = [rand_brightness, rand_saturation, rand_contrast, rand_translation, rand_cutout]


def diff_augment(x):
    for op in AUGMENT_OPS:
        x = op(x)
    return x


def noise(batch):
    return torch.rand(batch, NOISE_SIZE, 1, 1) * 2 - 1


def make_step(args):
    """Returns a function running one training iteration on a fixed real batch."""
    G = DcGenerator(CONV_DIM, args.projection)
    D = DcDiscriminator(CONV_DIM)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    augment = diff_augment if args.diffaug else (lambda x: x)
    real = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1

    def step():
        # D step: the fakes need no graph back into G.
        opt_d.zero_grad(set_to_none=True)
        if args.course_loop:
            fake = G(noise(args.batch)).detach()
        else:
            with torch.no_grad():
                fake = G(noise(args.batch))
        loss_d = 0.5 * torch.mean((D(augment(real)) - 1) ** 2) + 0.5 * torch.mean(D(augment(fake)) ** 2)
        loss_d.backward()
        opt_d.step()

        # G step: gradients flow through D, but only G's weights need them.
        opt_g.zero_grad(set_to_none=True)
        if not args.course_loop:
            D.requires_grad_(False)
        loss_g = torch.mean((D(augment(G(noise(args.batch)))) - 1) ** 2)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        return loss_d.item(), loss_g.item()

    return step


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per batch (default 16)")
    parser.add_argument("--diffaug", action="store_true", help="DiffAugment before D on both sides")
    parser.add_argument(
        "--projection",
        choices=["conv", "linear"],
        default="conv",
        help="z -> 256x4x4 as the course's 4x4 conv pad 3 (default) or as a linear layer",
    )
    parser.add_argument("--course-loop", action="store_true", help="the course's loop, literally")
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    # Interop threads must be set before any parallel work starts.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    step = make_step(args)
    for _ in range(args.warmup):
        step()
    times = []
    losses = (0.0, 0.0)
    for _ in range(args.iters):
        started = time.perf_counter()
        # .item() inside the step is the sync, so the clock covers all the work.
        losses = step()
        times.append((time.perf_counter() - started) * 1000)

    result = {
        "ms_per_iter": statistics.median(times),
        "ms_min": min(times),
        "ms_mean": statistics.fmean(times),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "iters": args.iters,
        "warmup": args.warmup,
        "batch": args.batch,
        "diffaug": args.diffaug,
        "projection": args.projection,
        "course_loop": args.course_loop,
        "loss_d": losses[0],
        "loss_g": losses[1],
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "python": sys.executable,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
