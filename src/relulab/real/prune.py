"""Pruning a trained classifier to chosen widths per hidden layer.

A node (conv channel) is scored by

* ``magnitude``: the L2 norm of its incoming weights in the BN-folded net (``s * w_j``, so a BN
  scale counts), or
* ``activation``: its mean post-ReLU activation on the given inputs (over positions for conv);

the ``width`` highest-scoring nodes of each layer are kept (in their original order). A removed
node's mean activation is moved into the bias of the layer above (mean-preserving, so the BN
running means above stay valid): for a linear layer above, exactly ``b += W[:, removed] @ mean``;
for a conv layer above, per channel ``b += sum over taps of W[:, removed] * channel mean``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from relulab.config import ConfigError
from relulab.real.classifier import Classifier, folded

PRUNE_METHODS = ("magnitude", "activation")


def node_scores(net: Classifier, x: Tensor, method: str) -> list[Tensor]:
    """Score ``(k_l,)`` of every node of every hidden layer (higher = kept first)."""
    if method == "magnitude":
        weights = folded(net)[0][:-1]
        return [w.flatten(1).norm(dim=1) for w in weights]
    if method == "activation":
        return [m.mean(dim=(1, 2)) if m.dim() == 3 else m for m in mean_activations(net, x)]
    raise ConfigError(f"unknown pruning method '{method}' (known: {', '.join(PRUNE_METHODS)})")


def mean_activations(net: Classifier, x: Tensor) -> list[Tensor]:
    """Mean over ``x (N, ...)`` of every hidden layer's post-ReLU activations (eval mode):
    ``(k_l,)`` (fc) or ``(k_l, H, W)`` (conv), float64."""
    net.eval()
    with torch.no_grad():
        return [a.double().mean(dim=0) for a in net.activations(x)]


def keep_indices(scores: list[Tensor], widths: tuple[int, ...]) -> list[Tensor]:
    """Per layer, the sorted indices of the ``widths[l]`` highest scores."""
    if len(widths) != len(scores):
        raise ConfigError(f"pruned widths {widths} need one entry per hidden layer "
                          f"({len(scores)})")
    out = []
    for score, width in zip(scores, widths, strict=True):
        if not 1 <= width <= score.numel():
            raise ConfigError(f"cannot prune a layer of {score.numel()} nodes to {width}")
        out.append(score.topk(width).indices.sort().values)
    return out


def _compensation(w_above: Tensor, mean: Tensor, removed: Tensor) -> Tensor:
    """Bias change ``(out,)`` of the layer above for removing nodes ``removed`` whose mean
    activations are ``mean`` (``(k,)`` or ``(k, H, W)``)."""
    if w_above.dim() == 4:  # conv above: channel mean times the sum over taps
        chan_mean = mean.mean(dim=(1, 2)) if mean.dim() == 3 else mean
        return (w_above[:, removed].double().sum(dim=(2, 3)) * chan_mean[removed]).sum(dim=1)
    cols = w_above.reshape(w_above.shape[0], mean.shape[0], -1)  # (out, k, positions)
    means = mean.reshape(mean.shape[0], -1)  # (k, positions)
    return (cols[:, removed].double() * means[removed]).sum(dim=(1, 2))


def _slice_inputs(w: Tensor, keep: Tensor, k: int) -> Tensor:
    """The columns of ``w`` that read the kept nodes of a layer of ``k`` nodes."""
    if w.dim() == 4:
        return w[:, keep]
    return w.reshape(w.shape[0], k, -1)[:, keep].reshape(w.shape[0], -1)


def prune(net: Classifier, widths: tuple[int, ...], method: str, x: Tensor) -> Classifier:
    """A new classifier keeping ``widths`` nodes per hidden layer of ``net`` (scored on
    ``x (N, ...)`` for the activation method); ``net`` is not changed."""
    keeps = keep_indices(node_scores(net, x, method), widths)
    means = mean_activations(net, x)
    old = net.hidden_layers()
    small = Classifier(net.kind, net.input_shape, tuple(widths), net.num_classes,
                       net.batchnorm).to_empty(device="cpu")  # every tensor is copied below
    small = small.to(net.classifier.weight.dtype)
    new = small.hidden_layers()
    above = [lin for lin, _ in old[1:]] + [net.classifier]
    new_above = [lin for lin, _ in new[1:]] + [small.classifier]
    with torch.no_grad():
        for layer, keep in enumerate(keeps):
            (lin, bn), (new_lin, new_bn) = old[layer], new[layer]
            w = lin.weight if layer == 0 else _slice_inputs(lin.weight, keeps[layer - 1],
                                                            old[layer - 1][0].weight.shape[0])
            new_lin.weight.copy_(w[keep])
            new_lin.bias.copy_(lin.bias[keep])
            if bn is not None and new_bn is not None:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(new_bn, name).copy_(getattr(bn, name)[keep])
                new_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
        small.classifier.bias.copy_(net.classifier.bias)
        for layer, keep in enumerate(keeps):  # biases above take the removed nodes' means
            removed = _removed(keep, old[layer][0].weight.shape[0])
            bias = _compensation(above[layer].weight, means[layer], removed)  # (out above,)
            if layer + 1 < len(keeps):
                bias = bias[keeps[layer + 1]]
            new_above[layer].bias.add_(bias.to(new_above[layer].bias.dtype))
        top_in = old[-1][0].weight.shape[0]
        small.classifier.weight.copy_(_slice_inputs(net.classifier.weight, keeps[-1], top_in))
    small.eval()
    return small


def _removed(keep: Tensor, k: int) -> Tensor:
    mask = torch.ones(k, dtype=torch.bool)
    mask[keep] = False
    return mask.nonzero().flatten()

