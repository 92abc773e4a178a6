"""The course's DCGAN in PyTorch, timed: the reference side of `deno task bench`.

The network, batch, optimizer and losses match catgan's tfjs DCGAN (models/dcgan.ts,
models/layers.ts, models/adam.ts, train/dcgan.ts) operation for operation:

- generator: z [B, 100] -> linear 100 -> 256*4*4 without bias, viewed as [B, 256, 4, 4] (catgan's
  `project` matMul; the course's 4x4 conv with padding 3 on a 1x1 input computes the same map,
  `--projection conv` runs that instead), instance norm + ReLU, then four stages of nearest
  upsample x2 + conv 3x3 s1 p1 to 128x8x8, 64x16x16, 32x32x32, 3x64x64, instance norm + ReLU
  after every stage but the last, tanh at the end;
- discriminator: four convs 4x4 s2 p1 (3 -> 32 -> 64 -> 128 -> 256, 64 -> 4 spatially), each
  followed by instance norm + ReLU, then conv 4x4 p0 256 -> 1, one score per image;
- no biases anywhere, instance norm without affine parameters, eps 1e-5, biased variance
  (PyTorch's InstanceNorm2d defaults, which catgan's `instanceNorm` reproduces);
- initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as catgan's `initFilter`/`initUniform`, with
  the projection's fan-in 100*4*4 as the course's conv has it;
- batch 16 at 64x64, Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8, least-squares losses
  J_D = 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2), J_G = mean((D(G(z)) - 1)^2);
- one iteration is one D step then one G step on fresh noise, uniform in [-1, 1], DiffAugment
  off, on a fixed random real batch (no data loading on either side), ending with both losses
  read back (`.item()`, as catgan reads them with `data()`: the sync that makes the clock honest).

By default the loop does the same work as catgan's trainStep: the fakes for the D step are made
without recording a graph, and D's weights get no gradient during the G step (tfjs's
variableGrads prunes the gradients nobody asked for). `--course-loop` runs the course's loop
literally instead (fakes recorded then detached, D's weight gradients computed in the G step and
thrown away).

Prints one line `BENCH_RESULT {json}` on stdout with the fields bench/report.ts's MeasureResult
names: median/mean/min/max ms per iteration, torch version, threads, and memory (RSS and peak RSS
after the warm-up and at the end; PyTorch keeps no tensor count).

Usage:
    python bench/dcgan_torch.py --threads 2 --iters 20 --warmup 3
"""

import argparse
import json
import math
import platform
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
RESULT_MARKER = "BENCH_RESULT "


def conv(in_channels, out_channels, kernel_size, stride, padding):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)


def init_uniform_(weight, fan_in):
    bound = 1 / math.sqrt(fan_in)
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class DcGenerator(nn.Module):
    def __init__(self, conv_dim, projection):
        super().__init__()
        widths = [8 * conv_dim, 4 * conv_dim, 2 * conv_dim, conv_dim, 3]
        self.first = widths[0]
        if projection == "conv":
            self.project = conv(NOISE_SIZE, widths[0], 4, 1, 3)
        else:
            self.project = nn.Linear(NOISE_SIZE, widths[0] * 16, bias=False)
            # nn.Linear would use fan-in 100; catgan and the course's conv use 100 * 4 * 4.
            init_uniform_(self.project.weight, NOISE_SIZE * 16)
        stages = []
        for i in range(4):
            stages += [nn.Upsample(scale_factor=2, mode="nearest"), conv(widths[i], widths[i + 1], 3, 1, 1)]
            stages += [nn.InstanceNorm2d(widths[i + 1]), nn.ReLU()] if i < 3 else [nn.Tanh()]
        self.stages = nn.Sequential(*stages)
        self.norm = nn.InstanceNorm2d(widths[0])

    def forward(self, z):
        if isinstance(self.project, nn.Conv2d):
            h = self.project(z.view(-1, NOISE_SIZE, 1, 1))
        else:
            h = self.project(z).view(-1, self.first, 4, 4)
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


def noise(batch):
    return torch.rand(batch, NOISE_SIZE) * 2 - 1


def make_step(args):
    """Returns a function running one training iteration on a fixed real batch."""
    G = DcGenerator(CONV_DIM, args.projection)
    D = DcDiscriminator(CONV_DIM)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1

    def step():
        # D step: the fakes need no graph back into G.
        opt_d.zero_grad(set_to_none=True)
        if args.course_loop:
            fake = G(noise(args.batch)).detach()
        else:
            with torch.no_grad():
                fake = G(noise(args.batch))
        loss_d = 0.5 * torch.mean((D(real) - 1) ** 2) + 0.5 * torch.mean(D(fake) ** 2)
        loss_d.backward()
        opt_d.step()

        # G step: gradients flow through D, but only G's weights need them.
        opt_g.zero_grad(set_to_none=True)
        if not args.course_loop:
            D.requires_grad_(False)
        loss_g = torch.mean((D(G(noise(args.batch))) - 1) ** 2)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        return loss_d.item(), loss_g.item()

    return step


def read_status():
    try:
        with open("/proc/self/status") as f:
            return f.read()
    except OSError:
        return ""


def status_value(status, key):
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def snapshot(iteration):
    status = read_status()
    rss_kb = status_value(status, "VmRSS")
    peak_kb = status_value(status, "VmHWM")
    # Off Linux: ru_maxrss (KiB on Linux, bytes on macOS) stands in for both.
    fallback = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fallback_kb = fallback / 1024 if sys.platform == "darwin" else fallback
    return {
        "iteration": iteration,
        "tensors": None,
        "rssMb": (rss_kb if rss_kb is not None else fallback_kb) / 1024,
        "peakRssMb": (peak_kb if peak_kb is not None else fallback_kb) / 1024,
    }


def finite_or_none(value):
    return value if math.isfinite(value) else None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per batch (default 16)")
    parser.add_argument("--sample-every", type=int, default=0, help="memory snapshot interval")
    parser.add_argument(
        "--projection",
        choices=["linear", "conv"],
        default="linear",
        help="z -> 256x4x4 as catgan's dense projection (default) or the course's 4x4 conv pad 3",
    )
    parser.add_argument("--course-loop", action="store_true", help="the course's loop, literally")
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def run_timed(args, make_step, extra):
    """Sets PyTorch's threads and seed, times `make_step(args)`'s step after its warm-up with memory
    snapshots along the way, and prints the `BENCH_RESULT` line, with `extra` fields added."""
    # Interop threads must be set before any parallel work starts.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sample_every = args.sample_every or max(1, args.iters // 10)

    step = make_step(args)
    losses = (math.nan, math.nan)
    for _ in range(args.warmup):
        losses = step()

    start = snapshot(args.warmup)
    samples = []
    times = []
    for i in range(1, args.iters + 1):
        started = time.perf_counter()
        # .item() inside the step is the sync, so the clock covers all the work.
        losses = step()
        times.append((time.perf_counter() - started) * 1000)
        if i % sample_every == 0:
            samples.append(snapshot(args.warmup + i))
    end = snapshot(args.warmup + args.iters)

    status = read_status()
    result = {
        "ok": True,
        "backend": "pytorch",
        "detail": f"torch {torch.__version__}",
        "runtime": f"python {platform.python_version()}",
        "threads": torch.get_num_threads(),
        "osThreads": status_value(status, "Threads"),
        "iters": args.iters,
        "warmup": args.warmup,
        "ms": {
            "median": statistics.median(times),
            "mean": statistics.fmean(times),
            "min": min(times),
            "max": max(times),
        },
        # JSON has no NaN: a diverged loss is reported as null.
        "losses": {"D": finite_or_none(losses[0]), "G": finite_or_none(losses[1])},
        "memory": {"start": start, "end": end, "samples": samples},
        "interopThreads": torch.get_num_interop_threads(),
        **extra,
    }
    print(RESULT_MARKER + json.dumps(result), flush=True)


def main(argv):
    args = parse_args(argv)
    run_timed(args, make_step, {"projection": args.projection, "courseLoop": args.course_loop})


if __name__ == "__main__":
    main(sys.argv[1:])
