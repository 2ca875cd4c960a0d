import pytest
import torch

from relulab.config import ConfigError
from relulab.nets.networks import Net, forward
from relulab.theory import recursive as R

DT = torch.float64
CASES = [((4,), (7,)), ((3, 5, 4), (6, 9, 8)), ((5, 5, 5, 5), (10, 10, 10, 10)), ((2, 3), (2, 3))]


@pytest.mark.parametrize("slope", [0.0, 0.1])
@pytest.mark.parametrize("teacher_widths,student_widths", CASES)
def test_rule_equals_autograd_every_layer(teacher_widths, student_widths, slope, generator):
    teacher = R.random_net(teacher_widths, 6, 3, 2, generator=generator, leaky_slope=slope)
    student = R.random_net(student_widths, 6, 3, 2, generator=generator, leaky_slope=slope)
    x = torch.randn(2, 40, 6, generator=generator, dtype=DT)
    errors = R.rule_errors(teacher, student, x)
    assert len(errors) == len(student_widths) + 2  # input, hidden layers, output
    assert max(errors) < 1e-10, errors


def test_weight_gradients_equal_autograd(generator):
    teacher = R.random_net((4, 5), 6, 3, 2, generator=generator)
    student = R.random_net((8, 7), 6, 3, 2, generator=generator)
    x = torch.randn(2, 30, 6, generator=generator, dtype=DT)
    params = [p.clone().requires_grad_(True) for p in student.parameters()]
    net = Net("fc", tuple(params[:3]), tuple(params[3:]))
    err = forward(teacher, x).output - forward(net, x).output
    mean_loss = 0.5 * err.pow(2).sum(-1).mean(-1).sum()  # per-seed mean, seeds independent
    grads = torch.autograd.grad(mean_loss, params)
    weights, biases = R.weight_gradients(R.gradient_rule(teacher, student, x))
    for mine, ref in zip([*weights, *biases], grads, strict=True):
        torch.testing.assert_close(mine, -ref, rtol=0, atol=1e-12)


def test_beta_at_top_hidden_layer_and_shapes(generator):
    teacher = R.random_net((4,), 5, 3, 2, generator=generator)
    student = R.random_net((6,), 5, 3, 2, generator=generator)
    t = R.gradient_rule(teacher, student, torch.randn(2, 7, 5, generator=generator, dtype=DT))
    top = torch.cat([student.weights[1], student.biases[1][..., None]], -1)
    top_t = torch.cat([teacher.weights[1], teacher.biases[1][..., None]], -1)
    torch.testing.assert_close(t.beta_star[1], (top.mT @ top_t)[:, None].expand(2, 7, 7, 5))
    assert t.beta[0].shape == (2, 7, 6, 6) and t.beta_star[0].shape == (2, 7, 6, 6)
    assert t.beta[1].shape == (2, 7, 7, 7) and t.grad_pre[1].shape == (2, 7, 6)
    assert (t.act[1][..., -1] == 1).all() and (t.gates[1][..., -1] == 1).all()


def test_batched_equals_per_seed(generator):
    teacher = R.random_net((3, 4), 5, 2, 3, generator=generator)
    student = R.random_net((6, 8), 5, 2, 3, generator=generator)
    x = torch.randn(3, 9, 5, generator=generator, dtype=DT)
    batched = R.gradient_rule(teacher, student, x)
    for s in range(3):
        alone = R.gradient_rule(teacher.select([s]), student.select([s]), x[s:s + 1])
        for a, b in zip(alone.beta_star + alone.grad_pre, batched.beta_star + batched.grad_pre,
                        strict=True):
            torch.testing.assert_close(a[0], b[s], rtol=0, atol=1e-13)


def test_student_equal_to_teacher_gets_zero_gradient(generator):
    teacher = R.random_net((4, 4), 5, 2, 1, generator=generator)
    t = R.gradient_rule(teacher, teacher, torch.randn(1, 20, 5, generator=generator, dtype=DT))
    assert max(float(g.abs().max()) for g in t.grad_pre) < 1e-13


def test_rejects_conv_and_depth_mismatch(generator):
    a = R.random_net((4,), 5, 2, 1, generator=generator)
    b = R.random_net((4, 4), 5, 2, 1, generator=generator)
    x = torch.randn(1, 3, 5, dtype=DT)
    with pytest.raises(ConfigError):
        R.gradient_rule(a, b, x)
    conv = Net("conv", a.weights, a.biases)
    with pytest.raises(ConfigError):
        R.gradient_rule(conv, a, x)
