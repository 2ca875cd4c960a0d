"""CUDA checks: run where a GPU is present (skipped otherwise)."""

import pytest
import torch

from relulab import get_preset, with_overrides
from relulab.training.engine import train

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("preset", ["demo", "luck-fc-small"])
def test_cuda_matches_cpu(preset):
    cfg = with_overrides(get_preset(preset), {"epochs": "1", "steps_per_epoch": "50",
                                              "N": "2000"})
    cpu = train(cfg, [0, 1, 2], device="cpu")
    gpu = train(cfg, [0, 1, 2], device="cuda")
    assert gpu.device.startswith("cuda")
    # same initial nets (drawn on CPU); data drawn on CPU too, so runs agree to round-off
    torch.testing.assert_close(gpu.eval_loss.cpu(), cpu.eval_loss, rtol=2e-3, atol=1e-5)


def test_cuda_nan_isolation():
    cfg = with_overrides(get_preset("demo"), {"epochs": "1", "steps_per_epoch": "20"})
    from relulab.training.setup import build

    teacher, student, _ = build(cfg, [0, 1], device="cuda")
    student.weights[0][0].fill_(1e30)
    res = train(cfg, [0, 1], device="cuda", nets=(teacher, student))
    assert res.diverged.tolist() == [True, False]
    assert torch.isfinite(res.eval_loss[1])


@pytest.mark.parametrize("sampling", ["replacement", "passes"])
def test_cuda_streams_and_float32_statistics_match_cpu(sampling):
    """Streams gather on the device the same rows as on the CPU (indices drawn on the CPU),
    and the float32 correlator agrees with the CPU within its bound."""
    from relulab.data import FiniteStream, ReplacementStream
    from relulab.metrics.float32 import Float32Correlator
    from relulab.rng import generator

    cls = ReplacementStream if sampling == "replacement" else FiniteStream
    x = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(0))
    gens = [[generator(0, s, "shuffle") for s in range(3)] for _ in range(2)]
    cpu, gpu = cls(x, 8, gens[0]), cls(x.cuda(), 8, gens[1])
    for _ in range(20):
        assert torch.equal(cpu.next()[0], gpu.next()[0].cpu())
    cfg = with_overrides(get_preset("demo"), {"epochs": "1", "steps_per_epoch": "50"})
    res = train(cfg, [0, 1], device="cpu")
    from relulab.training.setup import build

    _, _, src = build(cfg, [0, 1])
    ev = src.eval_inputs()
    on_cpu = Float32Correlator(res.teacher, ev)
    on_gpu = Float32Correlator(res.teacher.to("cuda"), ev.cuda())
    a, b = on_cpu(res.student)[0], on_gpu(res.student.to("cuda"))[0].cpu()
    assert float((a - b).abs().max()) <= on_cpu.last_bound[0] + on_gpu.last_bound[0]


@pytest.mark.parametrize("preset", ["demo", "luck-fc-small"])
def test_cuda_working_storage_step_matches_cpu(preset):
    """The fused step on working storage (fused.WorkingSGD) gives the CPU's parameters on the
    device, float64, over several steps."""
    from relulab.nets.networks import forward
    from relulab.training import fused
    from relulab.training.setup import build

    cfg = with_overrides(get_preset(preset), {"dtype": "float64"})
    teacher, student, src = build(cfg, [0, 1, 2])
    x = src.eval_inputs()[:, :32].double()
    y = forward(teacher.to("cpu", torch.float64), x).output
    nets = {"cpu": student.to("cpu", torch.float64),
            "cuda": student.to("cuda", torch.float64)}
    for device, net in nets.items():
        working = None
        for _ in range(3):
            working, net, loss = fused.fast_step(working, net, x.to(device), y.to(device),
                                                 0.01, 1.0)
            assert working is not None and loss is not None
        nets[device] = net
    for a, b in zip(nets["cuda"].parameters(), nets["cpu"].parameters(), strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-10, atol=1e-12)
