import pytest
import torch

from relulab.nets.networks import forward, predict
from relulab.real.classifier import accuracy, build, fit, folded, to_net
from relulab.real.datasets import load_split


def _trained_bn_net(kind, shape, generator):
    """A BN classifier with non-trivial BN statistics and affine parameters."""
    net = build(kind, shape, (5, 4), 3, True, generator=generator)
    x = torch.randn(40, *shape, generator=generator)
    y = torch.randint(3, (40,), generator=generator)
    fit(net, x, y, epochs=2, lr=0.1, batch_size=8, generator=generator)
    with torch.no_grad():
        for _, bn in net.hidden_layers():
            bn.weight.uniform_(-2, 2, generator=generator)  # negative scales too
            bn.bias.uniform_(-1, 1, generator=generator)
    return net.double(), x.double()


@pytest.mark.parametrize("kind,shape", [("fc", (6,)), ("conv", (2, 7, 7))])
def test_folded_net_equals_classifier_in_eval_mode(kind, shape, generator):
    net, x = _trained_bn_net(kind, shape, generator)
    teacher = to_net([net, net], dtype=torch.float64)
    out = predict(teacher, torch.stack([x, x]))  # (2, N, 3)
    ref = net(x).detach()
    torch.testing.assert_close(out[0], ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[1], ref, rtol=1e-12, atol=1e-12)
    # node activations are the classifier's post-ReLU activations (BN before the ReLU)
    acts = net.activations(x)
    for layer, post in enumerate(forward(teacher, torch.stack([x, x])).post):
        torch.testing.assert_close(post[0], acts[layer].detach(), rtol=1e-12, atol=1e-12)


def test_fold_formula_by_hand(generator):
    net, _ = _trained_bn_net("fc", (6,), generator)
    lin, bn = net.hidden_layers()[0]
    w, b = folded(net)[0][0], folded(net)[1][0]
    j = 2
    s = bn.weight[j] / torch.sqrt(bn.running_var[j] + bn.eps)
    torch.testing.assert_close(w[j], (s * lin.weight[j]).detach())
    torch.testing.assert_close(b[j], (s * (lin.bias[j] - bn.running_mean[j]) + bn.bias[j]).detach())


def test_build_uses_only_its_generator():
    state = torch.random.get_rng_state()
    a = build("conv", (1, 8, 8), (3,), 10, True, generator=torch.Generator().manual_seed(5))
    b = build("conv", (1, 8, 8), (3,), 10, True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    # torchvision VGG-BN naming: features.<i> conv, BN, ReLU; classifier on top
    assert {"features.0.weight", "features.1.running_mean", "features.1.bias",
            "classifier.weight"} <= set(a.state_dict())
    bound = 1 / 3.0  # 1/sqrt(fan_in) with fan_in = 1*3*3
    assert float(a.features[0].weight.detach().abs().max()) <= bound


def test_digits_teacher_learns_the_labels(generator):
    """A tiny FC teacher, 5 epochs: far above chance (0.1) on the held-out digits."""
    split = load_split("digits", kind="fc", image_size=8)
    net = build("fc", split.input_shape, (24,), 10, True, generator=generator)
    assert accuracy(net, split.test_x, split.test_y) < 0.4
    fit(net, split.train_x, split.train_y, epochs=5, lr=0.05, batch_size=64,
        generator=generator)
    assert accuracy(net, split.test_x, split.test_y) > 0.85
