"""Student initialization: distributions, shapes, precision and per-seed independence."""

import math

import pytest
import torch

from relulab import RunConfig, get_preset, with_overrides
from relulab.config import StudentConfig, TeacherConfig
from relulab.nets.students import make_students
from relulab.rng import generator as rng_generator

# d = 400 inputs into 200 hidden nodes: 80 000 first-layer weights per seed
WIDE = RunConfig(teacher=TeacherConfig(input_dim=400, widths=(50,), output_dim=30),
                 student=StudentConfig(multi=4))


def students(cfg: RunConfig, seeds=(0,), dtype=torch.float32):
    return make_students(cfg, [rng_generator(0, s, "student") for s in seeds], dtype=dtype)


def test_default_init_is_uniform_within_one_over_sqrt_fan_in():
    """U(-b, b), b = 1/sqrt(fan_in) (torch's nn.Linear default): inside the bounds, reaching
    close to them, variance b^2/3. With n = 80 000 weights the sample mean of w^2 has relative
    standard error sqrt(4/45 / n) * 3 = 0.32 %, so rtol 2 % is over 6 standard errors."""
    net = students(WIDE)
    for w, b in zip(net.weights, net.biases, strict=True):
        bound = 1 / math.sqrt(w.shape[2])
        assert w.abs().max() <= bound and b.abs().max() <= bound
        assert w.abs().max() > 0.99 * bound
    w = net.weights[0]
    assert w.shape == (1, 200, 400)
    torch.testing.assert_close(w.pow(2).mean().item(), (1 / 400) / 3, rtol=0.02, atol=0)
    assert abs(w.mean().item()) < 4 * math.sqrt((1 / 400) / 3 / w.numel())  # 4 SE


def test_conv_default_init_uses_filter_fan_in():
    cfg = with_overrides(get_preset("luck-conv"), {"multi": "1", "widths": "3,4"})
    net = students(cfg)
    assert net.weights[1].shape == (1, 4, 3, 3, 3)
    bound = 1 / math.sqrt(3 * 9)  # C_in x 3 x 3 taps
    assert net.weights[1].abs().max() <= bound < 1.1 * net.weights[1].abs().max()


def test_normal_init_std_and_zero_biases():
    """N(0, init_std^2) weights: the sample std of 80 000 draws has relative standard error
    1/sqrt(2n) = 0.25 %, so rtol 2 % is 8 standard errors; biases are exactly 0."""
    cfg = with_overrides(WIDE, {"student.init": "normal", "student.init_std": "0.3"})
    net = students(cfg)
    torch.testing.assert_close(net.weights[0].std().item(), 0.3, rtol=0.02, atol=0)
    assert all(torch.equal(b, torch.zeros_like(b)) for b in net.biases)


@pytest.mark.parametrize("init", ["default", "normal"])
def test_scale_down_multiplies_the_same_draw(init):
    base = with_overrides(WIDE, {"student.init": init})
    scaled = with_overrides(base, {"student.scale_down": "0.25"})
    for a, b in zip(students(base).parameters(), students(scaled).parameters(), strict=True):
        assert torch.equal(b, a * 0.25)


def test_seed_alone_equals_seed_in_batch_and_precisions_agree():
    """Drawn per seed in float32 on CPU: the batch does not matter, float64 is the same draw."""
    batched = students(WIDE, seeds=(0, 1, 2))
    alone = students(WIDE, seeds=(2,), dtype=torch.float64)
    for b, a in zip(batched.parameters(), alone.parameters(), strict=True):
        assert a.dtype == torch.float64 and torch.equal(a, b[2:].double())
    assert not torch.equal(batched.weights[0][0], batched.weights[0][1])


def test_widths_and_batchnorm_statistics():
    cfg = with_overrides(WIDE, {"student.widths": "7", "student.batchnorm": "true"})
    net = students(cfg, seeds=(0, 1))
    assert [tuple(w.shape) for w in net.weights] == [(2, 7, 400), (2, 30, 7)]
    assert torch.equal(net.bn_mean[0], torch.zeros(2, 7))
    assert torch.equal(net.bn_var[0], torch.ones(2, 7))
