"""Batched networks: S nets as one tensor program equal a loop of per-seed torch.nn modules."""

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm as BatchNorm

from relulab import get_preset, with_overrides
from relulab.config import TeacherConfig
from relulab.nets.networks import (
    concat,
    forward,
    input_shape,
    layer_shapes,
    predict,
    stack_seeds,
)
from relulab.nets.students import make_students
from relulab.rng import generator as rng_generator

NETS = {  # overrides of luck-fc-small / luck-conv giving small nets of every kind
    "fc": ("luck-fc-small", {"multi": "1"}),
    "fc-leaky": ("luck-fc-small", {"multi": "1", "student.leaky_slope": "0.1"}),
    "fc-bn": ("luck-fc-small", {"multi": "1", "student.batchnorm": "true"}),
    "conv": ("luck-conv", {"multi": "1", "widths": "3,4", "teacher.image_size": "8"}),
    "conv-bn": ("luck-conv", {"multi": "1", "widths": "3,4", "teacher.image_size": "8",
                              "student.batchnorm": "true"}),
}


def batched_net(name: str, seeds: int = 3):
    preset, over = NETS[name]
    cfg = with_overrides(get_preset(preset), over)
    net = make_students(cfg, [rng_generator(0, s, "student") for s in range(seeds)],
                        dtype=torch.float64)
    return cfg, net


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("train", [False, True])
def test_forward_equals_loop_of_plain_modules(name, train, as_module, generator):
    """Outputs, pre-activations and activations of every hidden layer in float64; in train
    mode BatchNorm uses batch statistics and updates its running statistics as
    torch.nn.BatchNorm does; in eval mode it uses (here random, non-trivial) running ones."""
    cfg, net = batched_net(name)
    for mean, var in zip(net.bn_mean, net.bn_var, strict=True):
        mean.copy_(torch.randn(mean.shape, generator=generator, dtype=mean.dtype))
        var.copy_(torch.rand(var.shape, generator=generator, dtype=var.dtype) + 0.5)
    x = torch.randn(3, 16, *input_shape(cfg.teacher), generator=generator, dtype=torch.float64)
    modules = [as_module(net, i).train(train) for i in range(3)]  # copies BN stats first
    fw = forward(net, x, train=train)
    assert fw.output.shape == (3, 16, cfg.teacher.output_dim)
    pre_type = nn.Conv2d if net.kind == "conv" else nn.Linear
    post_type = BatchNorm if net.batchnorm else (nn.ReLU, nn.LeakyReLU)
    for i, mod in enumerate(modules):
        h, pre, post = x[i], [], []
        for layer in mod:
            h = layer(h)
            if isinstance(layer, pre_type):
                pre.append(h)
            if isinstance(layer, post_type):
                post.append(h)
        torch.testing.assert_close(fw.output[i], h, rtol=1e-10, atol=1e-12)
        assert len(fw.pre) == len(fw.post) == len(post) == net.depth
        for layer in range(net.depth):
            torch.testing.assert_close(fw.pre[layer][i], pre[layer], rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(fw.post[layer][i], post[layer], rtol=1e-10, atol=1e-12)
        for layer, bn in enumerate(m for m in mod if isinstance(m, BatchNorm)):
            torch.testing.assert_close(net.bn_mean[layer][i], bn.running_mean, rtol=1e-12,
                                       atol=1e-14)
            torch.testing.assert_close(net.bn_var[layer][i], bn.running_var, rtol=1e-12,
                                       atol=1e-14)


def test_batchnorm_autograd_matches_torch(as_module, generator):
    """Gradients flow through the batched BatchNorm as through torch.nn.BatchNorm1d."""
    cfg, net = batched_net("fc-bn", seeds=2)
    x = torch.randn(2, 32, cfg.teacher.input_dim, generator=generator, dtype=torch.float64)
    params = [p.clone().requires_grad_(True) for p in net.parameters()]
    out = forward(net.with_parameters(params), x, train=True).output
    out.pow(2).sum().backward()
    for i in range(2):
        mod = as_module(net, i).train()
        mod(x[i]).pow(2).sum().backward()
        linears = [m for m in mod if isinstance(m, nn.Linear)]
        for layer, lin in enumerate(linears):
            torch.testing.assert_close(params[layer].grad[i], lin.weight.grad, rtol=1e-9,
                                       atol=1e-12)


def test_select_and_concat_round_trip():
    _, net = batched_net("fc-bn", seeds=5)
    parts = [net.select(slice(0, 2)), net.select([2]), net.select(torch.tensor([3, 4]))]
    assert [p.num_seeds for p in parts] == [2, 1, 2]
    back = concat(parts)
    assert (back.kind, back.leaky_slope, back.batchnorm) == (net.kind, net.leaky_slope,
                                                             net.batchnorm)
    for attr in ("weights", "biases", "bn_mean", "bn_var"):
        got, want = getattr(back, attr), getattr(net, attr)
        assert len(got) == len(want) > 0
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    assert torch.equal(net.select([4, 0]).weights[0], net.weights[0][[4, 0]])


def test_with_parameters_replaces_weights_then_biases():
    _, net = batched_net("fc", seeds=2)
    new = [p + 1 for p in net.parameters()]
    moved = net.with_parameters(new)
    assert all(a is b for a, b in zip(moved.parameters(), new, strict=True))
    assert moved.depth == net.depth and moved.widths == net.widths


@pytest.mark.parametrize(("task", "widths", "expected"), [
    (TeacherConfig(input_dim=7, widths=(3,), output_dim=2), (5,), [(5, 7), (2, 5)]),
    (TeacherConfig(input_dim=7, widths=(3, 4), output_dim=2), (6, 8),
     [(6, 7), (8, 6), (2, 8)]),
    (TeacherConfig(kind="conv", widths=(3, 4), output_dim=2, image_size=9), (5, 6),
     [(5, 1, 3, 3), (6, 5, 3, 3), (2, 6 * 5 * 5)]),
])
def test_layer_shapes(task, widths, expected):
    assert layer_shapes(task, widths) == expected


def test_stack_seeds_puts_the_seed_axis_first():
    per_seed = [[torch.full((2, 3), float(s)), torch.full((4,), float(s))] for s in range(5)]
    w, b = stack_seeds(per_seed)
    assert w.shape == (5, 2, 3) and b.shape == (5, 4)
    assert torch.equal(b[:, 0], torch.arange(5.0))


@pytest.mark.parametrize("name", ["fc", "conv"])
def test_predict_shares_unstacked_inputs_with_every_seed(name, generator):
    """``(N, d)`` / ``(N, C, H, W)`` inputs give every seed the same samples: equal (1e-12,
    float64) to the stacked inputs repeated S times; forward's outputs are the same."""
    cfg, net = batched_net(name)
    x = torch.randn(5, *input_shape(cfg.teacher), generator=generator, dtype=torch.float64)
    stacked = x.expand(3, *x.shape).clone()
    out = predict(net, x)
    assert out.shape == (3, 5, cfg.teacher.output_dim)
    torch.testing.assert_close(out, predict(net, stacked), rtol=0, atol=1e-12)
    torch.testing.assert_close(out, forward(net, stacked).output, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("name", "shape", "expected"), [
    ("fc", (8, 21), "predict: inputs of shape (S=3, N, 20) or (N, 20) expected, got (8, 21)"),
    ("fc", (2, 8, 20), "(S=3, N, 20) or (N, 20) expected, got (2, 8, 20)"),
    ("fc", (20,), "got (20,)"),
    ("conv", (4, 1, 9, 8), "(S=3, N, 1, 8, 8) or (N, 1, 8, 8) expected, got (4, 1, 9, 8)"),
    ("conv", (3, 4, 2, 8, 8), "got (3, 4, 2, 8, 8)"),
])
def test_predict_refuses_inputs_of_another_shape(name, shape, expected):
    _, net = batched_net(name)
    with pytest.raises(ValueError, match="predict: inputs of shape") as err:
        predict(net, torch.zeros(shape, dtype=torch.float64))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_predict_refuses_inputs_of_another_dtype():
    _, net = batched_net("fc")
    with pytest.raises(ValueError, match=r"dtype torch.float64 on cpu expected, got "
                                         r"torch.float32 on cpu"):
        predict(net, torch.zeros(3, 8, 20))
