"""Engine speed claims, measured in one run and printed as ratios.

1. Two-layer cell (d=100, m=10, multi=5, c=50, batch 16), S=32 seeds: seed-steps/s of the
   batched engine vs a plain per-seed ``nn.Module`` + ``torch.optim.SGD`` loop (what the
   batching saves over one seed at a time). The fair anchor is the ``torch.func`` vmap
   ensemble, eager and compiled: ``benchmarks/anchors.py`` (targets >= 4x and >= 3x there).
2. Deep FC student 500-750-1000-1250 (d=20, c=100), batch 64: achieved training FLOP/s divided
   by ``torch.mm`` FLOP/s at the same matmul sizes.  Target >= 0.9.
3. Conv student (``luck-conv-small``: 80-80-80-80 3x3 on 1x16x16, batch 64; ``--conv-preset
   luck-conv`` for the GPU-sized one): training FLOP/s (3x the forward conv FLOPs) next to
   ``F.conv2d`` forward FLOP/s at the same shapes.

Usage: python benchmarks/engine.py [--device cpu|cuda] [--steps N] [--conv-preset NAME]
"""

from __future__ import annotations

import argparse
import time

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on
from torch import nn

from relulab import get_preset, with_overrides
from relulab.training.engine import train
from relulab.training.setup import build


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def two_layer(device: torch.device, steps: int, seeds: int = 32) -> tuple[float, float]:
    cfg = with_overrides(get_preset("spec-two-layer"),
                         {"epochs": 1, "steps_per_epoch": str(steps), "stats_every": "0",
                          "data.eval_size": "256", "dtype": "float32"})  # both sides float32
    train(cfg, range(seeds), device=device, max_steps=20)  # warm-up
    sync(device)
    res = train(cfg, range(seeds), device=device)
    sync(device)
    batched = seeds * res.steps / res.loop_seconds

    # baseline: per-seed modules and optimizers, batches pre-drawn (favours the baseline)
    teacher, student, src = build(cfg, range(seeds), device=device)
    x = src.train_inputs()
    with torch.no_grad():
        from relulab.nets.networks import predict
        y = predict(teacher, x)
    mods, opts = [], []
    for i in range(seeds):
        mod = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 50)).to(device)
        with torch.no_grad():
            mod[0].weight.copy_(student.weights[0][i])
            mod[2].weight.copy_(student.weights[1][i])
        mods.append(mod)
        opts.append(torch.optim.SGD(mod.parameters(), lr=0.01))
    g = torch.Generator().manual_seed(0)
    n_base = max(steps // 4, 50)
    idx = torch.randint(x.shape[1], (n_base, 16), generator=g).to(device)
    loss_fn = nn.MSELoss()
    sync(device)
    t0 = time.perf_counter()
    for t in range(n_base):
        for i in range(seeds):
            opts[i].zero_grad(set_to_none=True)
            loss = loss_fn(mods[i](x[i, idx[t]]), y[i, idx[t]])
            loss.backward()
            opts[i].step()
    sync(device)
    base = seeds * n_base / (time.perf_counter() - t0)
    return batched, base


def deep_fc(device: torch.device, steps: int) -> tuple[float, float]:
    cfg = with_overrides(get_preset("luck-fc"), {"epochs": 1, "N": "6400",
                                                 "stats_every": "0", "data.eval_size": "64"})
    widths = [20, 500, 750, 1000, 1250, 100]
    b = cfg.optim.batch_size
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    # useful training FLOPs per step: forward + weight grads for all layers + input grads above
    flops = sum(2 * b * i * o for i, o in pairs) * 2 + sum(2 * b * i * o for i, o in pairs[1:])
    train(cfg, [0], device=device, max_steps=10)
    sync(device)
    res = train(cfg, [0], device=device, max_steps=steps)
    sync(device)
    train_rate = flops * res.steps / res.loop_seconds

    mats = []
    for k, (i, o) in enumerate(pairs):
        mats.append((torch.randn(b, i, device=device), torch.randn(i, o, device=device)))
        mats.append((torch.randn(o, b, device=device), torch.randn(b, i, device=device)))
        if k > 0:
            mats.append((torch.randn(b, o, device=device), torch.randn(o, i, device=device)))
    mm_flops = sum(2 * a.shape[0] * a.shape[1] * c.shape[1] for a, c in mats)
    for a, c in mats:
        torch.mm(a, c)
    sync(device)
    reps = steps
    t0 = time.perf_counter()
    for _ in range(reps):
        for a, c in mats:
            torch.mm(a, c)
    sync(device)
    mm_rate = mm_flops * reps / (time.perf_counter() - t0)
    assert mm_flops == flops
    return train_rate, mm_rate


def conv(device: torch.device, steps: int, preset: str) -> tuple[float, float]:
    """Training FLOP/s of the conv student (one seed) and F.conv2d forward FLOP/s at its
    layer shapes; FLOPs counted for the convolutions only (3x forward: input and weight
    gradients cost one forward each)."""
    cfg = with_overrides(get_preset(preset), {"epochs": 1, "N": "640", "stats_every": "0",
                                              "data.eval_size": "64"})
    b, side = cfg.optim.batch_size, cfg.teacher.image_size
    chans = [1, *(cfg.student.multi * w for w in cfg.teacher.widths)]
    shapes = []  # (input (B, C, H, W), weight (O, C, 3, 3))
    for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
        shapes.append(((b, c_in, side, side), (c_out, c_in, 3, 3)))
        side -= 2
    fwd = sum(2 * i[0] * (i[2] - 2) * (i[3] - 2) * w[0] * w[1] * 9 for i, w in shapes)
    train(cfg, [0], device=device, max_steps=2)
    sync(device)
    res = train(cfg, [0], device=device, max_steps=steps)
    sync(device)
    train_rate = 3 * fwd * res.steps / res.loop_seconds
    ops = [(torch.randn(i, device=device), torch.randn(w, device=device)) for i, w in shapes]
    for x, w in ops:
        torch.nn.functional.conv2d(x, w)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        for x, w in ops:
            torch.nn.functional.conv2d(x, w)
    sync(device)
    return train_rate, fwd * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--conv-preset", default="luck-conv-small")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    batched, base = two_layer(device, args.steps)
    print(f"two-layer S=32: batched {batched:,.0f} seed-steps/s, per-seed loop {base:,.0f} "
          f"seed-steps/s, ratio {batched / base:.1f}x (fair anchor: benchmarks/anchors.py)")
    train_rate, mm_rate = deep_fc(device, max(args.steps // 5, 50))
    print(f"deep FC 500-750-1000-1250 batch 64: training {train_rate / 1e9:.2f} GFLOP/s, "
          f"torch.mm {mm_rate / 1e9:.2f} GFLOP/s, ratio {train_rate / mm_rate:.2f} "
          f"(target >= 0.9)")
    conv_rate, conv2d_rate = conv(device, max(args.steps // 50, 5), args.conv_preset)
    print(f"conv {args.conv_preset} batch 64: training {conv_rate / 1e9:.2f} GFLOP/s, "
          f"F.conv2d forward {conv2d_rate / 1e9:.2f} GFLOP/s, ratio "
          f"{conv_rate / conv2d_rate:.2f}")


if __name__ == "__main__":
    main()
