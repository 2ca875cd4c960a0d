"""The original code's conventions (PAPERS.md §4), each pinned against a hand-written
reference: loss reduction, precision, minibatch sampling, uniform data, shared teacher."""

import pytest
import torch
from scipy import stats
from torch import nn

from relulab import get_preset, with_overrides
from relulab.data import FiniteStream, ReplacementStream, draw
from relulab.nets.networks import forward
from relulab.rng import generator as rng_generator
from relulab.training import fused, optim
from relulab.training.engine import train
from relulab.training.optim import loss_and_grads, loss_scale
from relulab.training.setup import build


def two_layer(**over):
    """spec-two-layer at a small size (d=20, m=5, n=10, c=20), float64."""
    base = {"d": 20, "m": 5, "multi": 2, "c": 20, "N": 200, "data.eval_size": 64,
            "epochs": 1, "steps_per_epoch": 30}
    return with_overrides(get_preset("spec-two-layer"), {**base, **over})


def one_seed(net, i):
    """(W1, b1, W2, b2) of seed i of a two-layer net."""
    return net.weights[0][i], net.biases[0][i], net.weights[1][i], net.biases[1][i]


def hand_update(w1, b1, w2, b2, x, y_t, lr):
    """The two-layer original's update, written from the formula
    W <- W + lr·(1/B)·hᵀ(y_t − y_s), backpropagated through the ReLU (one seed, (out, in))."""
    z = x @ w1.T + b1  # (B, n)
    h = torch.relu(z)
    err = y_t - (h @ w2.T + b2)  # (B, c)
    bsz = x.shape[0]
    back = (err @ w2) * (z > 0)  # (B, n)
    return (w1 + lr / bsz * back.T @ x, b1 + lr / bsz * back.sum(0),
            w2 + lr / bsz * err.T @ h, b2 + lr / bsz * err.sum(0))


@pytest.mark.parametrize("path", ["fused", "working", "autograd"])
def test_half_sum_step_equals_the_originals_hand_update(path):
    cfg = two_layer(**{"student.init_std": "0.3"})  # large init: every path is exercised
    assert cfg.optim.loss == "half_sum" and loss_scale(cfg) == 10.0  # c / 2
    teacher, student, src = build(cfg, [0, 1, 2])
    x = src.eval_inputs()[:, :16]
    y = forward(teacher, x).output
    assert x.dtype == torch.float64 and student.weights[0].dtype == torch.float64
    lr = 0.01
    expected = [hand_update(*one_seed(student, i), x[i], y[i], lr) for i in range(3)]
    if path == "fused":
        fused.sgd_step(student, x, y, lr, loss_scale(cfg))
    elif path == "working":
        student = fused.fast_step(None, student, x, y, lr, loss_scale(cfg))[1]
    else:
        opt = optim.from_config(cfg.optim)
        _, grads = loss_and_grads(student, x, y, scale=loss_scale(cfg))
        params = student.parameters()
        student = student.with_parameters(opt.update(grads, opt.init(params), params, lr)[0])
    for i in range(3):
        for g, e in zip(one_seed(student, i), expected[i], strict=True):
            torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-15)


def test_mse_step_is_2_over_c_of_the_half_sum_step():
    a, b = two_layer(), two_layer(loss="mse")
    teacher, student, src = build(a, [0])
    x = src.eval_inputs()[:, :16]
    y = forward(teacher, x).output
    _, g_half = loss_and_grads(student, x, y, scale=loss_scale(a))
    _, g_mse = loss_and_grads(student, x, y, scale=loss_scale(b))
    for h, m in zip(g_half, g_mse, strict=True):
        torch.testing.assert_close(m, h * 2 / 20, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("loss", ["mse", "half_sum"])
def test_float64_fused_step_equals_autograd_of_plain_modules(loss):
    cfg = two_layer(loss=loss, **{"student.init_std": "0.3"})
    teacher, student, src = build(cfg, [0, 1])
    x = src.eval_inputs()[:, :16]
    y = forward(teacher, x).output
    mods = []
    for i in range(2):
        w1, w2 = (nn.Parameter(student.weights[k][i].clone()) for k in (0, 1))
        b1, b2 = (nn.Parameter(student.biases[k][i].clone()) for k in (0, 1))
        out = torch.relu(x[i] @ w1.T + b1) @ w2.T + b2
        ref = (0.5 * (out - y[i]).pow(2).sum(1).mean() if loss == "half_sum"
               else nn.functional.mse_loss(out, y[i]))
        ref.backward()
        mods.append([(p - 0.05 * p.grad).detach() for p in (w1, b1, w2, b2)])
    fused.sgd_step(student, x, y, 0.05, loss_scale(cfg))
    for i in range(2):
        for g, e in zip(one_seed(student, i), mods[i], strict=True):
            assert g.dtype == torch.float64
            torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-15)


def test_dtype_runs_end_to_end():
    r64 = train(two_layer(), [0, 1])
    r32 = train(two_layer(dtype="float32"), [0, 1])
    assert r64.student.weights[0].dtype == torch.float64 and r64.eval_loss.dtype == torch.float64
    assert r32.student.weights[0].dtype == torch.float32
    # same seed, same conventions: the precisions agree to float32 round-off after 30 steps
    torch.testing.assert_close(r32.eval_loss.double(), r64.eval_loss, rtol=1e-3, atol=1e-6)


def index_set(s: int, n: int) -> torch.Tensor:
    """Training 'inputs' that are their own indices: (S, N, 1)."""
    return torch.arange(n, dtype=torch.float64).repeat(s, 1).unsqueeze(-1)


def test_replacement_sampling_draws_iid_uniform_indices():
    n, b, steps = 20, 16, 500
    gens = [rng_generator(0, s, "shuffle") for s in range(2)]
    stream = ReplacementStream(index_set(2, n), b, gens)
    idx = torch.cat([stream.next()[0][..., 0] for _ in range(steps)], 1).long()  # (2, steps*B)
    for s in range(2):
        counts = torch.bincount(idx[s], minlength=n)
        assert stats.chisquare(counts.numpy()).pvalue > 1e-3  # uniform over the set
    # with replacement: repeats inside a batch of 16 from 20 happen almost always
    # (P(no repeat) = 20!/(4! 20^16) ≈ 6e-8), never with shuffled passes
    batches = idx.reshape(2, steps, b)
    repeats = (batches.sort(-1).values.diff(dim=-1) == 0).any(-1).float().mean()
    assert repeats > 0.99
    # consecutive draws are independent: lag-1 correlation of the index sequence ~ 0
    seq = idx[0].double()
    lag = torch.corrcoef(torch.stack([seq[:-1], seq[1:]]))[0, 1]
    assert abs(float(lag)) < 4 / len(seq) ** 0.5


def test_pass_sampling_visits_every_sample_once_per_pass():
    n, b = 32, 8
    stream = FiniteStream(index_set(2, n), b, [rng_generator(0, s, "shuffle") for s in range(2)])
    for _ in range(3):
        one_pass = torch.cat([stream.next()[0][..., 0] for _ in range(n // b)], 1).long()
        assert all(torch.equal(one_pass[s].sort().values, torch.arange(n)) for s in range(2))


def test_replacement_seed_alone_equals_seed_in_batch():
    cfg = two_layer()
    assert cfg.data.sampling == "replacement"
    batched, alone = train(cfg, list(range(5))), train(cfg, [3])
    for wb, wa in zip(batched.student.parameters(), alone.student.parameters(), strict=True):
        torch.testing.assert_close(wb[3:4], wa, rtol=1e-12, atol=1e-14)


def test_uniform_data_is_the_originals_box_of_width_sigma():
    x = draw("uniform", 3.0, (200_000,), generator=rng_generator(0, 0, "train"),
             dtype=torch.float64)
    assert float(x.min()) >= -1.5 and float(x.max()) <= 1.5
    assert float(x.min()) < -1.49 and float(x.max()) > 1.49
    # U(-a, a) has variance a^2/3 = 0.75; MC standard error of the variance ≈ 0.0019
    assert abs(float(x.var()) - 0.75) < 0.01 and abs(float(x.mean())) < 0.01


def test_shared_teacher_gives_every_seed_one_teacher_and_data_set():
    cfg = two_layer(shared_teacher="true")
    teacher, student, src = build(cfg, [0, 1, 2])
    for w in teacher.parameters():
        assert torch.equal(w[0], w[1]) and torch.equal(w[0], w[2])
    ev, tr = src.eval_inputs(), src.train_inputs()
    assert torch.equal(ev[0], ev[2]) and torch.equal(tr[0], tr[1])
    assert not torch.equal(student.weights[0][0], student.weights[0][1])  # own students
    own_teacher, _, _ = build(two_layer(), [0, 1])
    assert not torch.equal(own_teacher.weights[0][0], own_teacher.weights[0][1])
    batched, alone = train(cfg, [0, 1, 2]), train(cfg, [2])
    torch.testing.assert_close(batched.student.weights[0][2:], alone.student.weights[0],
                               rtol=1e-12, atol=1e-14)
