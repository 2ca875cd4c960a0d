"""Optimizers as pure init/update pairs vs torch.optim, and NaN isolation per member."""

import pytest
import torch

from relulab.config import OptimConfig
from relulab.training import optim

CONFIGS = [
    OptimConfig(name="sgd", lr=0.1),
    OptimConfig(name="sgd", lr=0.1, weight_decay=0.01),
    OptimConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
    OptimConfig(name="adam", lr=0.01, weight_decay=0.001),
]


def torch_optimizer(cfg: OptimConfig, param: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam([param], lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.SGD([param], lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@pytest.mark.parametrize("per_member_lr", [False, True])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.name}-m{c.momentum}-wd{c.weight_decay}")
def test_update_matches_torch_optim_per_member(cfg, per_member_lr, generator):
    """S=3 stacked (4, 5) parameters plus (4,) biases, 4 steps of random gradients in float64:
    member i equals a torch.optim optimizer on member i alone (to round-off)."""
    lrs = [cfg.lr, cfg.lr / 2, cfg.lr * 3] if per_member_lr else [cfg.lr] * 3
    lr = torch.tensor(lrs, dtype=torch.float64) if per_member_lr else cfg.lr
    params = (torch.randn(3, 4, 5, generator=generator, dtype=torch.float64),
              torch.randn(3, 4, generator=generator, dtype=torch.float64))
    opt = optim.from_config(cfg)
    state = opt.init(params)
    refs = [[p[i].clone().requires_grad_(True) for p in params] for i in range(3)]
    ref_opts = [[torch_optimizer(cfg, r, lrs[i]) for r in refs[i]] for i in range(3)]
    for _ in range(4):
        grads = tuple(torch.randn(p.shape, generator=generator, dtype=torch.float64)
                      for p in params)
        params, state = opt.update(grads, state, params, lr)
        for i in range(3):
            for r, o, g in zip(refs[i], ref_opts[i], grads, strict=True):
                r.grad = g[i].clone()
                o.step()
    for i in range(3):
        for p, r in zip(params, refs[i], strict=True):
            torch.testing.assert_close(p[i], r.detach(), rtol=1e-12, atol=1e-14)


def test_update_is_pure(generator):
    params = (torch.randn(2, 3, generator=generator),)
    kept = params[0].clone()
    opt = optim.from_config(OptimConfig(name="adam"))
    state = opt.init(params)
    opt.update((torch.ones(2, 3),), state, params, 0.1)
    assert torch.equal(params[0], kept)
    assert state.count == 0 and torch.equal(state.slots[0][0], torch.zeros(2, 3))


@pytest.mark.parametrize("cfg", CONFIGS[2:], ids=["sgd-momentum", "adam"])
def test_apply_if_finite_freezes_a_member_and_keeps_the_others(cfg, generator):
    """Member 1's loss is NaN at step 2: from then on its parameters and optimizer state are
    those after step 1, even when a later loss is finite (frozen for good); members 0 and 2
    are updated exactly as without the wrapper."""
    params = (torch.randn(3, 4, 5, generator=generator, dtype=torch.float64),)
    plain, wrapped = optim.from_config(cfg), optim.apply_if_finite(optim.from_config(cfg))
    p_plain, s_plain = params, plain.init(params)
    p_wrap, s_wrap = params, wrapped.init(params)
    losses = [torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, float("nan"), 1.0]),
              torch.tensor([1.0, 1.0, float("inf")]), torch.tensor([1.0, 1.0, 1.0])]
    for step, loss in enumerate(losses):
        grads = (torch.randn(3, 4, 5, generator=generator, dtype=torch.float64),)
        p_plain, s_plain = plain.update(grads, s_plain, p_plain, cfg.lr)
        p_wrap, s_wrap = wrapped.update(grads, s_wrap, p_wrap, cfg.lr, loss)
        if step == 0:
            after_first = (p_wrap[0][1].clone(), [t[1].clone() for t in s_wrap.inner.slots[0]])
        if step == 1:  # member 2 dies at step 2: keep its values from here
            member2 = (p_wrap[0][2].clone(), [t[2].clone() for t in s_wrap.inner.slots[0]])
    assert s_wrap.alive.tolist() == [True, False, False]
    assert torch.equal(p_wrap[0][0], p_plain[0][0])
    for t_wrap, t_plain in zip(s_wrap.inner.slots[0], s_plain.slots[0], strict=True):
        assert torch.equal(t_wrap[0], t_plain[0])
    for member, (param, slots) in ((1, after_first), (2, member2)):
        assert torch.equal(p_wrap[0][member], param)
        for t, kept in zip(s_wrap.inner.slots[0], slots, strict=True):
            assert torch.equal(t[member], kept)
        assert not torch.equal(p_plain[0][member], param)  # it would have moved


def test_objective_scale_and_per_seed_mse(generator):
    out = torch.randn(3, 8, 4, generator=generator, dtype=torch.float64)
    target = torch.randn(3, 8, 4, generator=generator, dtype=torch.float64)
    expected = torch.stack([torch.nn.functional.mse_loss(out[i], target[i]) for i in range(3)])
    torch.testing.assert_close(optim.mse_per_seed(out, target), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("budget", [1, 3000, 1 << 30])  # one sample, a few, all at once
@pytest.mark.parametrize("over", [{}, {"student.batchnorm": "true"}])  # fc: buffered passes
def test_chunked_loss_equals_the_loss_of_the_whole_output(loss, budget, over):
    from relulab import get_preset, with_overrides
    from relulab.nets.networks import predict
    from relulab.training.setup import build

    cfg = with_overrides(get_preset("luck-fc-small"),
                         {"multi": "2", "data.eval_size": "37", **over})
    teacher, student, src = build(cfg, [0, 1, 2])
    x = src.eval_inputs().double()
    teacher, student = teacher.to("cpu", torch.float64), student.to("cpu", torch.float64)
    y = predict(teacher, x)
    want = optim.loss_per_seed(predict(student, x), y, loss)
    got = optim.loss_chunked(student, x, y, loss, budget_bytes=budget)
    assert got.shape == (3,) and got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
