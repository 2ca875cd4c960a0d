import math

import pytest
import torch

from relulab.metrics import fan_out_norms, grad_norms, matched_mask, split_fan_out
from relulab.nets.networks import Net, forward


def test_fc_fan_out_is_the_next_layers_column_norm():
    w1 = torch.zeros(1, 3, 2)
    w2 = torch.tensor([[[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]]])  # (S=1, out=2, n=3)
    net = Net("fc", (w1, w2), (torch.zeros(1, 3), torch.zeros(1, 2)))
    (norms,) = fan_out_norms(net)
    torch.testing.assert_close(norms, torch.tensor([[5.0, 0.0, math.sqrt(2)]]))


def _conv_net() -> Net:
    # 1x6x6 input -> conv 2 ch (4x4) -> conv 3 ch (2x2) -> linear to 5 outputs
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(2, 2, 1, 3, 3, generator=g), torch.randn(2, 3, 2, 3, 3, generator=g),
         torch.randn(2, 5, 3 * 2 * 2, generator=g))
    b = (torch.randn(2, 2, generator=g), torch.randn(2, 3, generator=g),
         torch.randn(2, 5, generator=g))
    return Net("conv", w, b)


def test_conv_fan_out_equals_the_jacobian_norm_of_each_channel():
    """Fan-out of a channel = norm of the Jacobian of the next layer w.r.t. that channel:
    for a conv above, at one output position (it sees one 3x3 patch of every channel); for the
    linear top, over the whole flattened map (channel-major, as networks.forward flattens)."""
    net = _conv_net()
    lower, top = fan_out_norms(net)
    assert lower.shape == (2, 2) and top.shape == (2, 3)
    for s in range(2):
        single = net.select([s])
        h1 = torch.randn(1, 2, 4, 4)  # layer-1 activations of one sample
        jac = torch.autograd.functional.jacobian(
            lambda h, net=single: torch.nn.functional.conv2d(h, net.weights[1][0]), h1)
        at_origin = jac[0, :, 0, 0, 0]  # output position (0, 0): (O=3, C=2, 4, 4)
        torch.testing.assert_close(at_origin.square().sum(dim=(0, 2, 3)).sqrt(), lower[s])
        h2 = torch.randn(1, 1, 3, 2, 2)
        jac_top = torch.autograd.functional.jacobian(
            lambda h, net=single: forward_top(net, h), h2).reshape(5, 3, 4)
        torch.testing.assert_close(jac_top.square().sum(dim=(0, 2)).sqrt(), top[s])


def forward_top(net: Net, h: torch.Tensor) -> torch.Tensor:
    # the output layer on a (S, N, C, H, W) feature map, flattened as networks.forward does
    return (h.flatten(2) @ net.weights[-1].transpose(1, 2)) + net.biases[-1].unsqueeze(1)


def test_forward_top_matches_networks_forward():
    net = _conv_net()
    x = torch.randn(2, 3, 1, 6, 6)
    fw = forward(net, x)
    torch.testing.assert_close(forward_top(net, fw.post[-1]), fw.output)


def test_split_fan_out_relevant_vs_irrelevant():
    norms = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    best = torch.tensor([[2, 0, 2]])  # teacher nodes matched to students 2, 0, 2
    assert matched_mask(best, 4).tolist() == [[True, False, True, False]]
    split = split_fan_out(norms, best)
    assert split.relevant.nan_to_num(-1).tolist() == [[1.0, -1, 3.0, -1]]
    assert split.irrelevant.nan_to_num(-1).tolist() == [[-1, 2.0, -1, 4.0]]
    assert matched_mask(torch.tensor([-1, 1]), 3).tolist() == [False, True, False]


def test_grad_norms():
    grads = (torch.ones(2, 3, 4), torch.full((2, 1, 3), 2.0), torch.zeros(2, 3),
             torch.zeros(2, 1))
    norms = grad_norms(grads, num_layers=2, num_seeds=2)
    torch.testing.assert_close(norms[0], torch.full((2,), math.sqrt(12)))
    torch.testing.assert_close(norms[1], torch.full((2,), math.sqrt(12)))
    at_init = grad_norms(None, num_layers=3, num_seeds=2)
    assert len(at_init) == 3 and all(torch.isnan(t).all() and t.shape == (2,) for t in at_init)


@pytest.mark.parametrize("nets", ["deep_nets", "conv_nets"])
def test_fan_out_shapes_follow_the_widths(nets, request):
    teacher, student, x = request.getfixturevalue(nets)
    for net in (teacher, student):
        norms = fan_out_norms(net)
        assert [t.shape for t in norms] == [(2, w) for w in net.widths]
        assert all((t > 0).all() for t in norms)
    assert forward(student, x).output.shape[0] == 2
