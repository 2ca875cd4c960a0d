"""CUDA checks: run where a GPU is present (skipped otherwise)."""

import pytest
import torch

from relulab import get_preset, train, with_overrides

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
    from relulab.engine import build

    teacher, student, _ = build(cfg, [0, 1], device="cuda")
    student.weights[0][0].fill_(1e30)
    res = train(cfg, [0, 1], device="cuda", nets=(teacher, student))
    assert res.diverged.tolist() == [True, False]
    assert torch.isfinite(res.eval_loss[1])
