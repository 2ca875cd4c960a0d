import numpy as np
import pytest
import torch

from relulab.metrics import (
    CorrelationAccumulator,
    LayerCorrelator,
    correlations,
    first_sample,
    layer_correlations,
    prepare_teacher,
)
from relulab.nets.networks import as_samples, forward


def _hand_case(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # student columns: ramp, dead ReLU (all 0), constant 0.1 (not exactly representable)
    student = torch.tensor([[1.0, 0.0, 0.1], [2.0, 0.0, 0.1], [3.0, 0.0, 0.1], [4.0, 0.0, 0.1]],
                           dtype=dtype)
    # teacher columns: 2 x ramp (+1), reversed ramp (-1), [1, 0, 0, 1] (0), [1, 3, 2, 4] (0.8)
    teacher = torch.tensor([[2.0, 4.0, 1.0, 1.0], [4.0, 3.0, 0.0, 3.0], [6.0, 2.0, 0.0, 2.0],
                            [8.0, 1.0, 1.0, 4.0]], dtype=dtype)
    return student, teacher


# hand-computed: ramp centered (-1.5, -0.5, 0.5, 1.5), |.|^2 = 5; [1,3,2,4] centered has
# (-1.5, 0.5, -0.5, 1.5), dot 4 -> 4/5; [1,0,0,1] centered is orthogonal to the ramp
EXPECTED = [[1.0, -1.0, 0.0, 0.8], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hand_case_known_values_and_dead_nodes_exactly_zero(dtype):
    student, teacher = _hand_case(dtype)
    corr = correlations(student, teacher)
    assert corr.dtype == dtype and corr.shape == (3, 4)
    # the +1e-10 on each norm moves |corr| = 1 by ~1e-10; float32 round-off ~1e-7
    atol = 1e-6 if dtype == torch.float32 else 1e-9
    torch.testing.assert_close(corr, torch.tensor(EXPECTED, dtype=dtype), atol=atol, rtol=0)
    assert (corr[1:] == 0).all()  # dead and constant nodes: exactly 0, not NaN / round-off


def test_streaming_hand_case_and_constant_nodes_exactly_zero():
    student, teacher = _hand_case(torch.float32)
    acc = CorrelationAccumulator()
    acc.update(student[:1], teacher[:1])
    acc.update(student[1:], teacher[1:])
    corr = acc.correlations()
    assert corr.dtype == torch.float64 and acc.count == 4
    torch.testing.assert_close(corr, torch.tensor(EXPECTED, dtype=torch.float64), atol=1e-6,
                               rtol=0)
    assert (corr[1:] == 0).all()


def test_matches_numpy_corrcoef(generator, relu_features):
    student = relu_features(200, 7, generator=generator)
    teacher = relu_features(200, 3, generator=generator)
    expected = np.corrcoef(student.T.numpy(), teacher.T.numpy())[:7, 7:]
    # only the +1e-10 on the norms separates the conventions: relative 1e-10 of O(1) values
    np.testing.assert_allclose(correlations(student, teacher).numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("chunks", [[1, 1, 98], [50, 50], [7, 13, 80]])
def test_streaming_equals_full(generator, relu_features, chunks):
    student = relu_features(100, 6, generator=generator).reshape(2, 50, 6)
    teacher = relu_features(100, 4, generator=generator).reshape(2, 50, 4)
    student = torch.cat([student, student], dim=1)  # (2, 100, 6)
    teacher = torch.cat([teacher, teacher], dim=1)
    acc = CorrelationAccumulator()
    start = 0
    for size in chunks:
        acc.update(student[:, start:start + size], teacher[:, start:start + size])
        start += size
    torch.testing.assert_close(acc.correlations(), correlations(student, teacher),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_accumulator_leaves_its_inputs_alone(generator, dtype):
    student = torch.randn(2, 10, 3, generator=generator, dtype=dtype)
    teacher = torch.randn(2, 10, 2, generator=generator, dtype=dtype)
    s0, t0 = student.clone(), teacher.clone()
    acc = CorrelationAccumulator()
    acc.update(student, teacher)
    acc.update(student, teacher)
    assert torch.equal(student, s0) and torch.equal(teacher, t0)


def test_streaming_is_stable_under_large_offsets(generator):
    # float64 one-pass sums around 0 would lose ~8 digits to an offset of 1e4 (1e8 / 1e-16
    # ~ 1e-8 relative); the shift by the first chunk's mean keeps full precision
    base = torch.randn(1000, 3, generator=generator, dtype=torch.float64)
    acc = CorrelationAccumulator()
    for part in (base + 1e4).split(100):
        acc.update(part, part[:, :2] * 3.0 - 5e4)
    torch.testing.assert_close(acc.correlations(), correlations(base, base[:, :2]),
                               atol=1e-11, rtol=0)


def test_non_finite_activations_give_nan_only_in_their_row_and_column(generator, relu_features):
    student = relu_features(30, 4, generator=generator)
    teacher = relu_features(30, 3, generator=generator)
    student[5, 2] = torch.inf
    teacher[:, 1] = torch.nan
    full = correlations(student, teacher)
    acc = CorrelationAccumulator()
    acc.update(student, teacher)
    for corr in (full, acc.correlations()):
        nan = torch.isnan(corr)
        assert nan[2].all() and nan[:, 1].all()
        assert not nan[[0, 1, 3]][:, [0, 2]].any()


def test_batched_equals_loop_over_seeds(generator):
    student = torch.randn(3, 2, 40, 5, generator=generator)
    teacher = torch.randn(3, 2, 40, 4, generator=generator)
    batched = correlations(student, teacher)
    assert batched.shape == (3, 2, 5, 4)
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(batched[i, j], correlations(student[i, j], teacher[i, j]))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="sample counts"):
        correlations(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="2 samples"):
        correlations(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="2 samples"):
        CorrelationAccumulator().correlations()


@pytest.mark.parametrize("nets", ["deep_nets", "conv_nets"])
def test_layer_correlations_streamed_equal_direct(nets, request):
    teacher, student, x = request.getfixturevalue(nets)
    streamed = layer_correlations(student, teacher, x, chunk=7)
    post_s = forward(student, x).post
    post_t = forward(teacher, x).post
    assert len(streamed) == student.depth
    for corr, a_s, a_t in zip(streamed, post_s, post_t, strict=True):
        direct = correlations(as_samples(a_s).double(), as_samples(a_t).double())
        assert corr.shape == (2, a_s.shape[2], a_t.shape[2])
        # float32 forwards of a chunk and of the whole set round differently (~1e-7 relative)
        torch.testing.assert_close(corr, direct, atol=1e-6, rtol=0)


def test_layer_correlations_default_chunk_and_depth_check(deep_nets, conv_nets):
    teacher, student, x = deep_nets
    a = layer_correlations(student, teacher, x)
    b = layer_correlations(student, teacher, x, budget=500)  # forces many small chunks
    for ca, cb in zip(a, b, strict=True):
        torch.testing.assert_close(ca, cb, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="depths differ"):
        layer_correlations(conv_nets[1], teacher, x)


@pytest.mark.parametrize("cache_bytes", [0, 1 << 28])
def test_correlator_reuses_the_teacher_and_equals_layer_correlations(deep_nets, cache_bytes):
    teacher, student, x = deep_nets
    correlator = LayerCorrelator(teacher, x, chunk=64, cache_bytes=cache_bytes)
    first = correlator(student)
    assert (correlator._cached is not None) == (cache_bytes > 0)
    moved = student.detached()
    moved.weights[0].mul_(0.5)  # another student state, same teacher
    for st in (moved, student):
        again = correlator(st)
        direct = layer_correlations(st, teacher, x, chunk=64)
        for a, b in zip(again, direct, strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    for a, b in zip(first, correlator(student), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_prepared_teacher_chunks_are_reusable(generator, relu_features):
    """One teacher, prepared once, with two students: equals fresh accumulations, and the
    prepared chunks are not modified by use."""
    teacher = relu_features(60, 3, generator=generator)
    shift = first_sample(teacher)
    prepared = [prepare_teacher(part, shift) for part in teacher.split(25)]
    frozen = [tuple(t.clone() for t in p) for p in prepared]
    for _ in range(2):
        student = relu_features(60, 4, generator=generator)
        acc = CorrelationAccumulator()
        for part, chunk in zip(student.split(25), prepared, strict=True):
            acc.add(part, chunk)
        torch.testing.assert_close(acc.correlations(), correlations(student, teacher),
                                   atol=1e-12, rtol=0)
    for p, f in zip(prepared, frozen, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(p, f, strict=True))
    with pytest.raises(ValueError, match="sample counts"):
        CorrelationAccumulator().add(student[:3], prepared[0])
