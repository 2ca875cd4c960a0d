"""Plain torch.nn modules in and out of a stacked Net: round trips, user-built modules, and
one-line errors for what a Net cannot express."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relulab import get_preset, with_overrides
from relulab.config import ConfigError
from relulab.nets import Net, from_modules, to_modules
from relulab.nets.networks import input_shape, predict
from relulab.nets.students import make_students
from relulab.rng import generator as rng_generator

TOL = {torch.float32: {"rtol": 1e-6, "atol": 1e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-12}}
FC = ("luck-fc-small", {"multi": "1"})
CONV = ("luck-conv", {"multi": "1", "widths": "3,4", "teacher.image_size": "8"})
VARIANTS = {
    "fc": (FC, {}),
    "fc-leaky": (FC, {"student.leaky_slope": "0.1"}),
    "fc-bn": (FC, {"student.batchnorm": "true"}),
    "fc-bn-affine": (FC, {"student.batchnorm": "true", "student.bn_affine": "true"}),
    "fc-bn-before": (FC, {"student.batchnorm": "true", "student.bn_before_relu": "true"}),
    "fc-bn-before-affine": (FC, {"student.batchnorm": "true", "student.bn_before_relu": "true",
                                 "student.bn_affine": "true"}),
    "conv": (CONV, {}),
    "conv-bn-affine": (CONV, {"student.batchnorm": "true", "student.bn_affine": "true"}),
    "conv-leaky-bn-before": (CONV, {"student.batchnorm": "true", "student.leaky_slope": "0.2",
                                    "student.bn_before_relu": "true"}),
}


def variant(name: str, dtype: torch.dtype, seeds: int = 3):
    """A student net of the variant with random (non-trivial) BN statistics and affine."""
    (preset, base), extra = VARIANTS[name]
    cfg = with_overrides(get_preset(preset), {**base, **extra})
    net = make_students(cfg, [rng_generator(0, s, "student") for s in range(seeds)], dtype=dtype)
    g = torch.Generator().manual_seed(7)
    for mean, var in zip(net.bn_mean, net.bn_var, strict=True):
        mean.copy_(torch.randn(mean.shape, generator=g))
        var.copy_(torch.rand(var.shape, generator=g) + 0.5)
    for scale, shift in zip(net.bn_weight, net.bn_bias, strict=True):
        scale.copy_(torch.rand(scale.shape, generator=g) + 0.5)
        shift.copy_(torch.randn(shift.shape, generator=g))
    x = torch.randn(16, *input_shape(cfg.teacher), generator=g).to(dtype)
    return net, x


def same_net(a: Net, b: Net) -> None:
    assert (a.kind, a.leaky_slope, a.batchnorm, a.bn_before_relu) == \
        (b.kind, b.leaky_slope, b.batchnorm, b.bn_before_relu)
    for name in ("weights", "biases", "bn_mean", "bn_var", "bn_weight", "bn_bias"):
        got, want = getattr(a, name), getattr(b, name)
        assert len(got) == len(want), name
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_to_modules_equals_predict_and_round_trips(name, dtype):
    net, x = variant(name, dtype)
    modules = to_modules(net)
    assert len(modules) == 3 and not any(m.training for m in modules)
    out = predict(net, x)
    for s, mod in enumerate(modules):
        assert next(mod.parameters()).dtype == dtype
        with torch.no_grad():
            torch.testing.assert_close(mod(x), out[s], **TOL[dtype])
    same_net(from_modules(modules), net)


def test_methods_on_net_and_a_single_module_is_one_seed():
    net, x = variant("fc-bn-affine", torch.float64)
    modules = net.to_modules()
    one = Net.from_modules(modules[1])
    assert one.num_seeds == 1
    same_net(one, net.select([1]))


def _user_teacher(seed: int, bn_before: bool = False, affine: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    bn = [nn.BatchNorm1d(6, affine=affine), nn.BatchNorm1d(5, affine=affine)]
    blocks = [[nn.Linear(10, 6), nn.LeakyReLU(0.05)], [nn.Linear(6, 5), nn.LeakyReLU(0.05)]]
    for block, b in zip(blocks, bn, strict=True):
        block.insert(1 if bn_before else 2, b)
    mod = nn.Sequential(nn.Sequential(*blocks[0]), *blocks[1], nn.Linear(5, 2))
    mod.train()  # running statistics from a few batches, then eval
    with torch.no_grad():
        for _ in range(3):
            mod(torch.randn(32, 10) * 2 + 1)
    return mod.eval()


@pytest.mark.parametrize("bn_before", [False, True])
@pytest.mark.parametrize("affine", [False, True])
def test_user_built_modules_predict_as_the_modules(bn_before, affine):
    mods = [_user_teacher(s, bn_before, affine) for s in range(3)]
    net = from_modules(mods)
    assert (net.widths, net.leaky_slope, net.bn_before_relu) == ((6, 5), 0.05, bn_before)
    assert bool(net.bn_weight) == affine
    x = torch.randn(20, 10)
    out = predict(net, x)
    with torch.no_grad():
        for s, mod in enumerate(mods):
            torch.testing.assert_close(out[s], mod(x), **TOL[torch.float32])


def test_user_conv_module_without_bias():
    torch.manual_seed(0)
    mod = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.ReLU(), nn.Conv2d(3, 4, 3),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)).eval()
    net = from_modules(mod)
    assert net.kind == "conv" and net.widths == (3, 4)
    x = torch.randn(6, 2, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(predict(net, x)[0], mod(x), **TOL[torch.float32])


def _lin(*extra: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 3), *extra, nn.Linear(3, 2))


@pytest.mark.parametrize(("modules", "expected"), [
    (_lin(nn.Tanh()), "module 0: layer 1 (Tanh): expected ReLU or LeakyReLU"),
    (_lin(nn.ReLU(), nn.Dropout()), "module 0: layer 2 (Dropout): expected one of Linear"),
    (_lin(nn.ReLU(), nn.BatchNorm1d(3, eps=1e-3)), "layer 2 (BatchNorm1d): expected eps 1e-05"),
    (_lin(nn.ReLU(), nn.BatchNorm1d(3, momentum=None)), "momentum 0.1"),
    (_lin(nn.ReLU(), nn.BatchNorm1d(3, track_running_stats=False)), "running statistics"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU()), "module 0: the end: expected a linear top layer"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)),
     "layer 0 (Conv2d): expected kernel_size 3, stride 1, no padding"),
    (nn.Sequential(nn.Conv2d(1, 2, 5), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)),
     "got kernel_size (5, 5)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)),
     "got stride (2, 2)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(32, 2)),
     "layer 2 (Linear): expected Conv2d or Flatten"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.BatchNorm1d(3),
                   nn.Linear(3, 2)), "layer 3 (ReLU): expected BatchNorm in every hidden layer"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.LeakyReLU(), nn.Linear(3, 2)),
     "layer 3 (LeakyReLU): expected one activation throughout"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)), "expected 3 inputs"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm2d(3), nn.Linear(3, 2)),
     "layer 2 (BatchNorm2d): expected BatchNorm1d in a fc net"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), "layer 0 (Flatten): expected no Flatten"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2).double()),
     "module 0: one dtype and device expected"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 3),
                   nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)),
     "module 0: BatchNorm on one side of the activation"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 3), nn.ReLU(),
                   nn.BatchNorm1d(3, affine=False), nn.Linear(3, 2)),
     "module 0: BatchNorm affine in every hidden layer or in none"),
    ([_lin(nn.ReLU()), _lin(nn.LeakyReLU(0.1))],
     "module 1: activation slope 0.1, expected 0.0 as in module 0"),
    ([_lin(nn.ReLU()), nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))],
     "module 1: layer shapes [(5, 4), (2, 5)], expected [(3, 4), (2, 3)]"),
    ([], "at least one module"),
])
def test_unsupported_modules_are_one_line_config_errors(modules, expected):
    with pytest.raises(ConfigError) as err:
        from_modules(modules)
    assert expected in str(err.value) and "\n" not in str(err.value)
