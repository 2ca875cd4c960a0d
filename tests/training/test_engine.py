import copy

import pytest
import torch
from torch import nn

from relulab import get_preset, with_overrides
from relulab.nets.networks import forward
from relulab.training import engine, fused
from relulab.training.engine import train, train_group
from relulab.training.optim import loss_and_grads
from relulab.training.setup import build


def small(preset: str = "demo", **over):
    return with_overrides(get_preset(preset), {"epochs": 1, "steps_per_epoch": 40, **over})


def test_demo_learns():
    cfg = with_overrides(get_preset("demo"), {"epochs": 3})
    res = train(cfg, [0, 1])
    first = [r["eval_loss"] for r in res.rows if r["epoch"] == 1]
    assert float(res.eval_loss.max()) < 0.5 * min(first)


def test_seed_alone_equals_seed_in_batch_of_32():
    cfg = small()
    batched = train(cfg, list(range(32)))
    alone = train(cfg, [17])
    for wb, wa in zip(batched.student.parameters(), alone.student.parameters(), strict=True):
        torch.testing.assert_close(wb[17:18], wa, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(batched.eval_loss[17:18], alone.eval_loss, rtol=1e-4, atol=1e-7)


def test_fresh_samples_batch_equivalence():
    cfg = small(**{"data.train_size": "none"})
    a, b = train(cfg, [0, 1, 2]), train(cfg, [2])
    torch.testing.assert_close(a.student.weights[0][2:], b.student.weights[0], rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("preset,slope", [("luck-fc-small", 0.0), ("spec-two-layer", 0.1)])
def test_batched_gradients_equal_autograd_of_plain_modules(preset, slope, as_module):
    cfg = with_overrides(get_preset(preset), {"student.leaky_slope": str(slope),
                                              "student.multi": "2"})
    teacher, student, src = build(cfg, [0, 1, 2])
    student = student.to("cpu", torch.float64)
    teacher = teacher.to("cpu", torch.float64)
    x = src.eval_inputs()[:, :33].double()
    y = forward(teacher, x).output
    loss, grads = loss_and_grads(student, x, y)
    n_layers = len(student.weights)
    for i in range(3):
        mod = as_module(student, i)
        ref = nn.functional.mse_loss(mod(x[i]), y[i])
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=0)
        for layer, lin in enumerate(m for m in mod if isinstance(m, nn.Linear)):
            torch.testing.assert_close(grads[layer][i], lin.weight.grad, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(grads[n_layers + layer][i], lin.bias.grad, rtol=1e-10,
                                       atol=1e-12)


@pytest.mark.parametrize(("dtype", "huge"), [("float32", 1e30), ("float64", 1e200)])
def test_nan_seed_is_frozen_and_others_unchanged(dtype, huge):
    cfg = small(dtype=dtype)
    teacher, student, _ = build(cfg, [0, 1, 2])
    blown = copy.deepcopy(student)
    blown.weights[0][1].fill_(huge)  # seed 1 overflows at once
    res = train(cfg, [0, 1, 2], nets=(teacher, blown))
    ref = train(cfg, [0, 1, 2], nets=(teacher, student))
    assert res.diverged.tolist() == [False, True, False]
    assert torch.equal(res.student.weights[0][1], torch.full_like(blown.weights[0][1], huge))
    for a, b in zip(res.student.parameters(), ref.student.parameters(), strict=True):
        # the blown run takes the masked autograd path, the reference the fused one:
        # equal up to float32 round-off
        torch.testing.assert_close(a[[0, 2]], b[[0, 2]], rtol=1e-4, atol=1e-6)
    blown_rows = [r for r in res.rows if r["seed"] == 1]
    assert blown_rows and all(r["diverged"] for r in blown_rows)


def test_given_nets_are_used_as_they_are_and_not_redrawn(monkeypatch):
    cfg = small()
    teacher, student, _ = build(cfg, [0, 1])
    before = [p.clone() for p in student.parameters()]
    drawn = train(cfg, [0, 1])

    def no_drawing(*args, **kwargs):
        raise AssertionError("train_group(nets=...) drew nets")

    monkeypatch.setattr(engine, "draw_nets", no_drawing)
    given = train(cfg, [0, 1], nets=(teacher, student))
    for a, b in zip(given.student.parameters(), drawn.student.parameters(), strict=True):
        assert torch.equal(a, b)  # same start, same data: the same run
    for p, b in zip(student.parameters(), before, strict=True):
        assert torch.equal(p, b)  # the caller's student is copied, not trained in place


def test_group_of_configs_equals_separate_runs():
    a = small(p="0")
    b = with_overrides(small(p="2"), {"lr": "0.02", "init_std": "0.1"})
    grouped = train_group([a, a, b, b], [0, 1, 0, 1])
    sep = train(b, [0, 1])
    torch.testing.assert_close(grouped.student.weights[-1][2:], sep.student.weights[-1],
                               rtol=1e-4, atol=1e-6)
    assert not torch.allclose(grouped.teacher.weights[-1][0], grouped.teacher.weights[-1][2])


def test_conv_training_runs():
    cfg = with_overrides(get_preset("luck-conv"),
                         {"multi": "1", "widths": "4,4", "N": "256", "epochs": "1",
                          "data.eval_size": "64"})
    res = train(cfg, [0, 1])
    assert res.steps == 4 and torch.isfinite(res.eval_loss).all()


def test_lr_schedule():
    cfg = get_preset("spec-multilayer").optim
    assert [cfg.lr_at(e) for e in (0, 19, 20, 39)] == [0.2, 0.2, 0.1, 0.1]


@pytest.mark.parametrize(("slope", "path"), [(0.0, "in_place"), (0.2, "in_place"),
                                             (0.0, "working")])
@pytest.mark.parametrize("per_seed_lr", [False, True])
def test_fused_sgd_step_equals_autograd_update(slope, per_seed_lr, path, generator):
    cfg = with_overrides(get_preset("luck-fc-small"), {"student.leaky_slope": str(slope),
                                                       "multi": "2"})
    teacher, student, src = build(cfg, [0, 1, 2])
    student, teacher = student.to("cpu", torch.float64), teacher.to("cpu", torch.float64)
    x = src.eval_inputs()[:, :64].double()
    y = forward(teacher, x).output
    lr = torch.tensor([0.01, 0.02, 0.03], dtype=torch.float64) if per_seed_lr else 0.01
    working = None
    for _ in range(2):  # the working storage carries over between steps
        loss_ref, grads = loss_and_grads(student, x, y)
        expected = [p - (lr.reshape((-1,) + (1,) * (p.dim() - 1)) if per_seed_lr else lr) * g
                    for p, g in zip(student.parameters(), grads, strict=True)]
        working, student, loss = fused.fast_step(working, student, x, y, lr, 1.0,
                                                 storage=path == "working")
        assert (working is not None) == (path == "working")
        torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=0)
        for p, e in zip(student.parameters(), expected, strict=True):
            torch.testing.assert_close(p, e, rtol=1e-12, atol=1e-14)


def test_working_storage_is_the_trained_net_and_rebuilt_for_another():
    cfg = with_overrides(get_preset("luck-fc-small"), {"multi": "2"})
    teacher, student, src = build(cfg, [0, 1])
    x = src.eval_inputs()[:, :16]
    y = forward(teacher, x).output
    working, net, _ = fused.fast_step(None, student, x, y, 0.01, 1.0)
    assert net is working.net and net is not student
    again, net2, _ = fused.fast_step(working, net, x, y, 0.01, 1.0)
    assert again is working and net2 is net
    before = [p.clone() for p in net.parameters()]
    working.step(x, y, 0.01)  # the net's tensors are views of the storage: they move
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    copy = net.detached()
    other, net3, _ = fused.fast_step(working, copy, x, y, 0.01, 1.0)
    assert other is not working and net3 is other.net
    bad = y.clone()
    bad[1, 0, 0] = float("nan")
    kept = [p.clone() for p in net3.parameters()]
    assert other.step(x, bad, 0.01) is None  # a non-finite loss updates nothing
    assert all(torch.equal(a, b) for a, b in zip(kept, net3.parameters(), strict=True))


@pytest.mark.parametrize("over", [
    {"optim.name": "adam", "lr": "0.01"},
    {"optim.momentum": "0.9", "lr": "0.01"},
    {"optim.name": "gd", "N": "512", "lr": "0.1", "steps_per_epoch": "none"},
    {"data.kind": "uniform", "sigma": "2.0"},
    {"student.batchnorm": "true"},
])
def test_optimizers_and_options_reduce_loss(over):
    cfg = with_overrides(small(), {"epochs": "3", **over})
    res = train(cfg, [0, 1])
    first = torch.tensor([r["train_loss"] for r in res.rows if r["epoch"] == 1])
    assert torch.isfinite(res.eval_loss).all()
    assert (res.train_loss < first).all()


@pytest.mark.parametrize("loss", ["mse", "half_sum"])
def test_statistics_pass_gives_the_eval_loss_of_its_epochs(monkeypatch, loss):
    """At statistics epochs the float32 correlator's eval pass shares the eval loss (the engine
    makes no second pass); the logged values do not depend on it: every row equals, bit for
    bit, that of a run without callbacks."""
    from relulab.training.recorder import StatsRecorder

    cfg = small(**{"epochs": 3, "steps_per_epoch": 20, "dtype": "float32", "stats_every": 2,
                   "optim.loss": loss})
    plain = train(cfg, [0, 1, 2])
    calls = []
    original = engine.loss_chunked
    monkeypatch.setattr(engine, "loss_chunked", lambda *a: calls.append(1) or original(*a))
    fused_run = train(cfg, [0, 1, 2], callbacks=[StatsRecorder()])
    assert calls == [1]  # epochs 2 and 3 (the last) record statistics
    for a, b in zip(plain.rows, fused_run.rows, strict=True):
        assert (a["epoch"], a["seed"]) == (b["epoch"], b["seed"])
        assert b["eval_loss"] == a["eval_loss"] and b["train_loss"] == a["train_loss"]
    assert torch.equal(fused_run.eval_loss, plain.eval_loss)


def test_a_callback_eval_loss_of_the_wrong_shape_is_refused():
    def bad(ctx):
        ctx.shared_eval_loss = torch.zeros(5)

    with pytest.raises(ValueError, match="eval loss of shape"):
        train(small(), [0, 1], callbacks=[bad])
