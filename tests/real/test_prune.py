import pytest
import torch

from relulab.config import ConfigError
from relulab.real.classifier import build, folded
from relulab.real.prune import keep_indices, mean_activations, node_scores, prune


def _net(kind, shape, widths, generator, batchnorm=True):
    net = build(kind, shape, widths, 3, batchnorm, generator=generator).double()
    if batchnorm:
        with torch.no_grad():
            for _, bn in net.hidden_layers():
                bn.running_mean.uniform_(-0.2, 0.2, generator=generator)
                bn.running_var.uniform_(0.5, 2, generator=generator)
                bn.weight.uniform_(0.5, 2, generator=generator)
                bn.bias.uniform_(-0.5, 0.5, generator=generator)
    return net.eval()


def test_keep_indices_top_scores_in_order():
    keeps = keep_indices([torch.tensor([0.1, 3.0, 2.0, 0.5])], (2,))
    assert keeps[0].tolist() == [1, 2]
    with pytest.raises(ConfigError, match="cannot prune a layer of 4 nodes to 5"):
        keep_indices([torch.zeros(4)], (5,))


def test_scores_by_hand(generator):
    net = _net("fc", (5,), (4, 3), generator)
    x = torch.randn(30, 5, generator=generator, dtype=torch.float64)
    mags = node_scores(net, x, "magnitude")
    torch.testing.assert_close(mags[1], folded(net)[0][1].norm(dim=1))
    acts = node_scores(net, x, "activation")
    torch.testing.assert_close(acts[0], net.activations(x)[0].mean(dim=0).detach())
    with pytest.raises(ConfigError, match="unknown pruning method"):
        node_scores(net, x, "random")


@pytest.mark.parametrize("kind,shape", [("fc", (5,)), ("conv", (2, 8, 8))])
@pytest.mark.parametrize("method", ["magnitude", "activation"])
def test_prune_to_full_width_is_identity(kind, shape, method, generator):
    net = _net(kind, shape, (4, 3), generator)
    x = torch.randn(20, *shape, generator=generator, dtype=torch.float64)
    same = prune(net, (4, 3), method, x)
    torch.testing.assert_close(same(x), net(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,shape", [("fc", (5,)), ("conv", (2, 8, 8))])
def test_pruning_constant_nodes_keeps_outputs(kind, shape, generator):
    """Nodes whose activation is a constant (zero incoming weights) carry no information: the
    mean moved into the bias above makes the pruned net compute the same function (exact for
    an FC layer above and for the flattened top layer; a conv layer above sees the constant map
    at every tap, so exact too)."""
    net = _net(kind, shape, (4, 3), generator, batchnorm=False)
    with torch.no_grad():
        net.hidden_layers()[0][0].weight[[0, 2]] = 0.0
        net.hidden_layers()[0][0].bias[[0, 2]] = torch.tensor([0.7, 0.3], dtype=torch.float64)
        net.hidden_layers()[1][0].weight[1] = 0.0
        net.hidden_layers()[1][0].bias[1] = 0.4
    x = torch.randn(25, *shape, generator=generator, dtype=torch.float64)
    small = prune(net, (2, 2), "magnitude", x)
    assert small.widths == (2, 2)
    torch.testing.assert_close(small(x), net(x), rtol=1e-10, atol=1e-10)
    assert len(mean_activations(small, x)) == 2


def test_prune_keeps_bn_entries_of_kept_nodes(generator):
    net = _net("fc", (5,), (4, 3), generator)
    x = torch.randn(20, 5, generator=generator, dtype=torch.float64)
    keep = keep_indices(node_scores(net, x, "activation"), (2, 2))
    small = prune(net, (2, 2), "activation", x)
    for layer in range(2):
        old_bn, new_bn = net.hidden_layers()[layer][1], small.hidden_layers()[layer][1]
        torch.testing.assert_close(new_bn.bias, old_bn.bias[keep[layer]])
        torch.testing.assert_close(new_bn.running_var, old_bn.running_var[keep[layer]])
