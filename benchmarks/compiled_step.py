"""The fused working-storage step eager vs under ``torch.compile``, at the smallest paper group.

The group is ``spec-two-layer`` with m=5, multi=1 (n=5), 192 members, batch 16: the step with
the least work per member, where per-op overhead weighs most. Two compiled forms of
:meth:`relulab.training.fused.WorkingSGD.step` are timed against the eager step, interleaved,
best of ``--repeats``:

- ``method``: ``torch.compile(working.step)`` as it is (the finiteness check is a graph break);
- ``split``: the same step as two functional graphs (forward and loss; backward and in-place
  update), the finiteness check between them in eager.

Prints ms/step, eager/compiled, the one-time compile seconds (first call) and the largest
relative difference of the parameters from the eager step's after the timed steps.

Measured (torch 2.13 CPU, 1 thread, 2-core machine at load 1.5-2.3): float32 eager 1.66
ms/step, method 0.97x, split 0.90x (compile 10.1 s with an empty inductor cache); float64
eager 1.96 ms/step, method 0.95x, split 0.87x (compile 4.4 s), split within 6e-15 relative of
eager in float64. The method form captures no graph (dynamo breaks at the ``out=`` ops that
write into views of the working storage) and so runs eager; the split form captures the step
but inductor calls the same batched GEMMs and its fused elementwise kernels do not make up
for the graph calls. The engine therefore keeps the eager step.

Usage: python benchmarks/compiled_step.py [--steps 200] [--repeats 5] [--threads 1]
       [--dtypes float32,float64] [--cpp-wrapper]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on
from torch import Tensor

from relulab import get_preset, with_overrides
from relulab.nets.networks import predict
from relulab.training.fused import WorkingSGD
from relulab.training.optim import loss_scale
from relulab.training.setup import build

MEMBERS = 192


def _forward(x: Tensor, y: Tensor, w0t: Tensor, b0: Tensor, upper: list[Tensor],
             ones: Tensor) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
    z, h = [torch.baddbmm(b0, x, w0t)], []
    for top in upper:
        h.append(torch.cat([torch.relu(z[-1]), ones], -1))
        z.append(torch.bmm(h[-1], top))
    diff = z[-1] - y
    return diff.square().sum((1, 2)) / (diff.shape[1] * diff.shape[2]), diff, z[:-1], h


def _backward(x: Tensor, diff: Tensor, z: list[Tensor], h: list[Tensor], w0t: Tensor,
              b0: Tensor, upper: list[Tensor], coef: Tensor) -> None:
    delta = diff * coef  # coef = -lr * d(scale * MSE)/d out per unit diff, (S, 1, 1)
    for layer in range(len(upper) - 1, -1, -1):
        top = upper[layer]
        below = torch.bmm(delta, top[:, :-1].transpose(1, 2))
        top.add_(torch.bmm(h[layer].transpose(1, 2), delta))
        delta = torch.where(z[layer] > 0, below, 0.0)
    w0t.add_(torch.bmm(x.transpose(1, 2), delta))
    b0.add_(delta.sum(1, keepdim=True))


def split_step(working: WorkingSGD, lr: float, scale: float) -> Callable:
    fwd, bwd = torch.compile(_forward), torch.compile(_backward)
    s, b, c = working.out.shape
    like = {"dtype": working.out.dtype, "device": working.out.device}
    ones = torch.ones(s, b, 1, **like)
    coef = torch.full((s, 1, 1), -lr * 2.0 * scale / (b * c), **like)

    def step(x: Tensor, y: Tensor) -> Tensor | None:
        loss, diff, z, h = fwd(x, y, working.w0t, working.b0, working.upper, ones)
        if not bool(torch.isfinite(loss).all()):
            return None
        bwd(x, diff, z, h, working.w0t, working.b0, working.upper, coef)
        return loss
    return step


def rel_diff(a: WorkingSGD, b: WorkingSGD) -> float:
    pairs = zip(a.net.weights + a.net.biases, b.net.weights + b.net.biases, strict=True)
    return max(float((p - q).abs().max() / p.abs().max()) for p, q in pairs)


def measure(dtype: str, steps: int, repeats: int) -> None:
    cfg = with_overrides(get_preset("spec-two-layer"),
                         {"teacher.widths": 5, "student.multi": 1, "dtype": dtype,
                          "data.eval_size": 256})
    lr, scale, bs = cfg.optim.lr, loss_scale(cfg), cfg.batch_size
    teacher, student, src = build(cfg, range(MEMBERS))
    x = src.train_inputs()
    y = predict(teacher, x)
    rows = torch.randint(x.shape[1], (steps, MEMBERS, bs), generator=torch.Generator()
                         .manual_seed(0))
    batches = [(x[torch.arange(MEMBERS)[:, None], r], y[torch.arange(MEMBERS)[:, None], r])
               for r in rows]
    eager = WorkingSGD(student, bs)
    forms: dict[str, tuple[WorkingSGD, Callable]] = {}
    for name in ("method", "split"):
        w = WorkingSGD(student, bs)
        try:
            if name == "method":
                compiled = torch.compile(w.step)

                def call(xb: Tensor, yb: Tensor, f: Callable = compiled) -> Tensor | None:
                    return f(xb, yb, lr, scale)
            else:
                call = split_step(w, lr, scale)
            t0 = time.perf_counter()
            call(*batches[0])
            first = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001  (a failed compile skips that form)
            print(f"  {dtype} {name}: compile failed: {type(exc).__name__}")
            continue
        forms[name] = (w, call)
        print(f"  {dtype} {name}: first call (compile) {first:.1f} s")
    eager.step(*batches[0], lr, scale)
    best = {"eager": float("inf")} | {k: float("inf") for k in forms}
    for _ in range(repeats):
        for name in best:
            t0 = time.perf_counter()
            for xb, yb in batches:
                if name == "eager":
                    eager.step(xb, yb, lr, scale)
                else:
                    forms[name][1](xb, yb)
            best[name] = min(best[name], (time.perf_counter() - t0) / steps)
    line = f"{dtype}: eager {best['eager'] * 1e3:.3f} ms/step"
    for name, (w, _) in forms.items():
        line += (f"; {name} {best[name] * 1e3:.3f} ms/step (eager/compiled "
                 f"{best['eager'] / best[name]:.2f}x, max rel diff {rel_diff(eager, w):.1e})")
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--cpp-wrapper", action="store_true", help="inductor's C++ wrapper")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.cpp_wrapper:
        import torch._inductor.config as inductor_config

        inductor_config.cpp_wrapper = True
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} "
          f"load={os.getloadavg()[0]:.2f} (1-min); m=5 multi=1, {MEMBERS} members, batch 16")
    for dtype in args.dtypes.split(","):
        measure(dtype, args.steps, args.repeats)
    print(f"load={os.getloadavg()[0]:.2f} (1-min) at the end")


if __name__ == "__main__":
    main()
