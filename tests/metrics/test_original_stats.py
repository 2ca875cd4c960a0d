"""The statistics the original records against direct references: train
correlations, students per teacher node above thresholds, β / H against Theorem 1, epoch-mean
gradient norms against a per-step autograd loop, eval_samples from the config."""

import math

import pytest
import torch

from relulab import build, with_overrides
from relulab.metrics import correlations, students_above
from relulab.metrics.beta import beta_diag
from relulab.nets.networks import forward
from relulab.theory.recursive import gradient_rule
from relulab.training.engine import train
from relulab.training.optim import loss_and_grads, loss_scale
from relulab.training.recorder import StatsRecorder


def test_students_above_counts_by_hand():
    corr = torch.tensor([[[0.96, 0.1], [0.55, 0.92], [0.91, float("nan")]]])  # (1, n=3, m=2)
    got = students_above(corr, (0.5, 0.9, 0.95))  # (1, T, m)
    assert got.tolist() == [[[3, 1], [2, 1], [1, 0]]]


def test_train_correlations_match_the_full_training_set(demo_run, demo_cfg):
    result, recorder = demo_run
    from relulab.training.engine import _setup

    run = _setup([demo_cfg] * 3, [0, 1, 2], "cpu", None, None, None)
    final = [r for r in recorder.rows if r["final"]]
    acts_t = forward(result.teacher, run.train_x).post[0]
    acts_s = forward(result.student, run.train_x).post[0]
    ref = correlations(acts_s.double(), acts_t.double())  # (S, n, m)
    for r in final:  # within the float32 path's guaranteed bound (relulab.metrics.float32)
        i = r["member"]
        torch.testing.assert_close(torch.tensor(r["student_best_train_corr"], dtype=torch.float64),
                                   ref[i].max(dim=1).values, atol=1e-3, rtol=0)
        torch.testing.assert_close(torch.tensor(r["teacher_best_train_corr"], dtype=torch.float64),
                                   ref[i].max(dim=0).values, atol=1e-3, rtol=0)
    for r in recorder.rows:  # students per teacher node vs the matched count
        assert [c > 0 for c in r["students_095"]] == [b > 0.95 for b in r["teacher_best_corr"]]
        assert all(a >= b for a, b in zip(r["students_050"], r["students_095"], strict=True))


def test_beta_diag_matches_theorem_1(deep_cfg):
    cfg = with_overrides(deep_cfg, {"dtype": "float64"})
    teacher, student, src = build(cfg, [0, 1])
    x = src.eval_inputs()[:, :50]
    got = beta_diag(student, x, max_elements=500)  # several chunks
    rule = gradient_rule(teacher, student, x)
    for layer in range(student.depth):
        n = student.widths[layer]
        ref = rule.beta[layer + 1].diagonal(dim1=-2, dim2=-1)[..., :n].mean(dim=1)
        torch.testing.assert_close(got.beta[layer], ref, rtol=1e-10, atol=1e-12)
        gates = (forward(student, x).pre[layer] > 0).double().mean(dim=1)
        torch.testing.assert_close(got.h[layer], gates * ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.5])  # fused path / autograd path
def test_epoch_grad_norm_is_the_mean_over_steps(deep_cfg, momentum):
    cfg = with_overrides(deep_cfg, {"dtype": "float64", "epochs": 1, "steps_per_epoch": 4,
                                    "optim.momentum": momentum, "stats.epoch_grad": True})
    rec = StatsRecorder()
    train(cfg, [0], callbacks=[rec])
    # reference: replay the steps one by one with autograd (plain SGD only: with momentum the
    # reference is the first step's gradient, which the mean must contain)
    teacher, student, src = build(cfg, [0])
    from relulab.training.engine import _setup

    run = _setup([cfg], [0], "cpu", None, None, None)
    norms = []
    for _ in range(4):
        xb, yb = run.stream.next()
        _, grads = loss_and_grads(student, xb, yb, scale=loss_scale(cfg))
        norms.append([g.flatten(1).norm(dim=1).item() for g in grads])
        if momentum:
            break
        student = student.with_parameters([p - 0.01 * g for p, g in
                                           zip(student.parameters(), grads, strict=True)])
    final = {r["layer"]: r for r in rec.rows if r["final"]}
    depth = student.depth
    for layer in range(1, depth + 1):
        if momentum:  # first step's gradients agree; later ones differ from plain SGD
            assert final[layer]["grad_norm"] > 0
            continue
        want = sum(n[layer - 1] for n in norms) / 4
        want_b = sum(n[depth + 1 + layer - 1] for n in norms) / 4
        assert final[layer]["grad_norm"] == pytest.approx(want, rel=1e-8)
        assert final[layer]["grad_norm_bias"] == pytest.approx(want_b, rel=1e-8)
    at_init = [r for r in rec.rows if r["epoch"] == 0]
    assert at_init and all(math.isnan(r["grad_norm"]) for r in at_init)


def test_eval_samples_from_config(deep_cfg):
    cfg = with_overrides(deep_cfg, {"stats.eval_samples": 20, "stats.train_samples": 0,
                                    "epochs": 0})
    rec = StatsRecorder(precision="float64")  # exact path: compare to 1e-9
    train(cfg, [0], callbacks=[rec])
    teacher, student, src = build(cfg, [0])
    x = src.eval_inputs()[:, :20]
    ref = correlations(forward(student, x).post[0].double(), forward(teacher, x).post[0].double())
    row = next(r for r in rec.rows if r["layer"] == 1)
    torch.testing.assert_close(torch.tensor(row["teacher_best_corr"], dtype=torch.float64),
                               ref[0].max(dim=0).values, atol=1e-9, rtol=0)
    assert row["teacher_best_train_corr"] is None and row["student_beta"] is None
