"""Float32 cross-product correlations: within their stated bound of the float64 reference."""

import dataclasses

import pytest
import torch

from relulab import build, get_preset, with_overrides
from relulab.metrics import LayerCorrelator
from relulab.metrics.float32 import Float32Correlator, gamma
from relulab.training.engine import train


def _run(dtype: str, multi: int = 4, depth_widths: str | None = None):
    over = {"epochs": 1, "steps_per_epoch": 200, "multi": multi, "dtype": dtype,
            "data.eval_size": 3000}
    if depth_widths:
        over["teacher.widths"] = depth_widths
    cfg = with_overrides(get_preset("demo"), over)
    res = train(cfg, [0, 1, 2])
    _, _, src = build(cfg, [0, 1, 2])
    return res.teacher, res.student, src.eval_inputs()


@pytest.mark.parametrize("dtype,widths", [("float64", None), ("float32", None),
                                          ("float64", "6,4")])
def test_within_bound_of_float64_reference(dtype, widths):
    """Trained students (S=3, N=3000, chunks of 512): every correlation within the computed
    bound (<= tol) of the float64 LayerCorrelator; the bound itself is tight enough to be
    useful (< 1e-3) and the actual error far below it (float32 round-off, ~1e-6)."""
    teacher, student, x = _run(dtype, depth_widths=widths)
    fast = Float32Correlator(teacher, x, chunk=512)
    got = fast(student)
    ref = LayerCorrelator(teacher, x)(student)
    assert fast.fallbacks == 0 and len(fast.last_bound) == len(ref)
    for g, r, bound in zip(got, ref, fast.last_bound, strict=True):
        assert g.dtype == torch.float64 and g.shape == r.shape
        err = float((g - r).abs().max())
        assert err <= bound <= 1e-3
        assert err < 2e-5
        assert bound > gamma(512)  # never below the GEMM term it must cover


def test_teacher_itself_correlates_one_and_dead_nodes_zero():
    teacher, student, x = _run("float64")
    corr = Float32Correlator(teacher, x)(teacher)[0]  # (S, m, m)
    ones = torch.ones(3, 5, dtype=torch.float64)
    torch.testing.assert_close(corr.diagonal(dim1=1, dim2=2), ones, atol=1e-5, rtol=0)
    dead = dataclasses.replace(student, biases=(student.biases[0].clone().fill_(-1e6),
                                                student.biases[1]))
    zeros = torch.zeros(3, 20, 5, dtype=torch.float64)
    assert torch.equal(Float32Correlator(teacher, x)(dead)[0], zeros)


def test_bound_over_tol_falls_back_to_float64_sums():
    """A student node nearly constant over the eval set (tiny weights, large bias) has
    |s'| / sigma_s large: the bound exceeds tol and the call returns the float64 result."""
    teacher, student, x = _run("float64")
    w = student.weights[0].clone()
    w[:, 0] *= 1e-9
    b = student.biases[0].clone()
    b[:, 0] = 1e3
    odd = dataclasses.replace(student, weights=(w, student.weights[1]),
                              biases=(b, student.biases[1]))
    fast = Float32Correlator(teacher, x, tol=1e-3)
    got = fast(odd)[0]
    assert fast.fallbacks == 1 and fast.last_bound[0] > 1e-3
    assert torch.equal(got, LayerCorrelator(teacher, x, cache_bytes=0)(odd)[0])


def test_auto_chunk_sizes_the_activations_and_the_chooser_keeps_the_bound():
    from relulab.metrics.float32 import auto_chunk, correlator

    assert auto_chunk(192, 200) == (16 << 20) // (4 * 192 * 200)  # 109 samples: ~16 MB
    assert auto_chunk(192, 5) == 1024 and auto_chunk(100_000, 1000) == 64  # clamped
    teacher, student, x = _run("float32")
    chosen = correlator(teacher, student, x, chunk=100)  # 30 chunks, the last one short
    assert isinstance(chosen, Float32Correlator)
    got = chosen(student)
    ref = LayerCorrelator(teacher, x)(student)
    for g, r, bound in zip(got, ref, chosen.last_bound, strict=True):
        assert float((g - r).abs().max()) <= bound <= 1e-3
    assert not isinstance(correlator(teacher, student, x, "float64"), Float32Correlator)


@pytest.mark.parametrize("dtype,widths,rtol", [("float32", None, 1e-5),
                                               ("float64", "6,4", 1e-12)])
def test_the_pass_also_gives_the_eval_mse(dtype, widths, rtol):
    """With targets, the correlations are unchanged and ``last_loss`` is the students' MSE on
    the same samples (float32 students: float32 round-off; float64 deep nets: exact)."""
    from relulab.nets.networks import predict
    from relulab.training.optim import mse_per_seed

    teacher, student, x = _run(dtype, depth_widths=widths)
    y = predict(teacher, x)
    fast = Float32Correlator(teacher, x, chunk=512)
    plain = fast(student)
    assert fast.last_loss is None
    with_loss = fast(student, y)
    for a, b in zip(plain, with_loss, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    want = mse_per_seed(predict(student, x).double(), y.double())
    assert fast.last_loss.dtype == torch.float64
    torch.testing.assert_close(fast.last_loss, want, rtol=rtol, atol=0)
    with pytest.raises(ValueError, match="do not match the samples"):
        fast(student, y[:, :10])


def test_no_pass_loss_for_a_float64_student_run_in_float32():
    teacher, student, x = _run("float64")  # depth 1: the hidden layer runs in float32 here
    fast = Float32Correlator(teacher, x)
    fast(student, torch.zeros(*x.shape[:2], teacher.weights[-1].shape[1], dtype=x.dtype))
    assert fast.last_loss is None
