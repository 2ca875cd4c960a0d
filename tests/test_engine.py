import torch

from relulab import get_preset, train, with_overrides


def test_demo_learns_and_batch_equals_alone():
    cfg = with_overrides(get_preset("demo"), {"epochs": 2})
    batched = train(cfg, [0, 1, 2])
    alone = train(cfg, [1])
    assert float(batched.eval_loss.max()) < 0.5
    torch.testing.assert_close(batched.eval_loss[1:2], alone.eval_loss, rtol=1e-4, atol=1e-6)
    for wb, wa in zip(batched.student.weights, alone.student.weights, strict=True):
        torch.testing.assert_close(wb[1:2], wa, rtol=1e-4, atol=1e-5)
