"""Luck Matters, Theorem 1 (Tian, Jiang, Gong, Morcos 2019): the recursive gradient rule, exact
per sample, for deep fully connected ReLU / Leaky ReLU teacher and student nets with biases.

With g_j the negative loss gradient at node j's pre-activation, ℓ = ½|y* − y|²:

.. math::
    g_j(x) = f'_j(x) [Σ_{j°} β*_{jj°}(x) f_{j°}(x) − Σ_{j'} β_{jj'}(x) f_{j'}(x)]
    β*_{kk°} = Σ_{j,j°} w_{jk} f'_j β*_{jj°} f'_{j°} w*_{j°k°},
    β_{kk'} = Σ_{j,j'} w_{jk} f'_j β_{jj'} f'_{j'} w_{j'k'},

starting from β* = β = I at the linear top layer (f' = 1 there). It is exact because a (Leaky)
ReLU is positively homogeneous, f = f'·z. Biases: every layer gets a constant-1 node (gate 1)
and augmented weights ``[[W, b], [0, 1]]`` (docs/theory.md), so β has one extra row and column.

Layer indices: node layer 0 is the input, 1..L the hidden layers, L+1 the output. Nets are
:class:`relulab.nets.networks.Net` (fc, no BatchNorm) with S stacked seeds; inputs ``x (S, N, d)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from relulab.config import ConfigError
from relulab.nets.networks import Net, forward, gate


@dataclass(frozen=True)
class RuleTerms:
    """Per-sample quantities of Theorem 1. Tuples are indexed by node layer 0..L (input and
    hidden); ``n_l`` student width, ``m_l`` teacher width, ``+1`` the constant node."""

    act: tuple[Tensor, ...]  # student f̃_l (S, N, n_l+1), last column 1
    act_star: tuple[Tensor, ...]  # teacher f̃*_l (S, N, m_l+1)
    gates: tuple[Tensor, ...]  # student f'_l (S, N, n_l+1), constant node 1 (input: all 1)
    gates_star: tuple[Tensor, ...]  # teacher (S, N, m_l+1)
    beta_star: tuple[Tensor, ...]  # β*_l(x) (S, N, n_l+1, m_l+1)
    beta: tuple[Tensor, ...]  # β_l(x) (S, N, n_l+1, n_l+1)
    grad_pre: tuple[Tensor, ...]  # g_l (S, N, n_l) for l = 0..L+1 (l = 0: −∂ℓ/∂x via student)
    output_error: Tensor  # y* − y (S, N, c)

    @property
    def depth(self) -> int:
        return len(self.act) - 1


def _check_fc(net: Net, name: str) -> None:
    if not net.plain_fc:
        raise ConfigError(f"the gradient rule needs a fully connected {name} without BatchNorm")


def augmented(weight: Tensor, bias: Tensor) -> Tensor:
    """``[[W, b], [0, 1]]``: ``W (S, out, in)``, ``b (S, out)`` -> ``(S, out+1, in+1)``."""
    s, out, inp = weight.shape
    top = torch.cat([weight, bias[..., None]], dim=-1)
    last = torch.zeros(s, 1, inp + 1, dtype=weight.dtype, device=weight.device)
    last[..., -1] = 1.0
    return torch.cat([top, last], dim=-2)


def _with_one(t: Tensor) -> Tensor:
    return torch.cat([t, torch.ones_like(t[..., :1])], dim=-1)


def _layers(net: Net, x: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
    fwd = forward(net, x)
    acts = [_with_one(x)] + [_with_one(h) for h in fwd.post]
    gates = [torch.ones_like(acts[0])] + [_with_one(gate(z, net.leaky_slope)) for z in fwd.pre]
    return acts, gates, fwd.output


def gradient_rule(teacher: Net, student: Net, x: Tensor) -> RuleTerms:
    """β*(x), β(x) at every node layer and the gradient g_l(x) each layer receives, by the
    recursion of Theorem 1 (batched over seeds and samples with matmuls, no loops over nodes).

    ``x (S, N, d)``; teacher and student must have the same depth.
    """
    _check_fc(teacher, "teacher")
    _check_fc(student, "student")
    if teacher.depth != student.depth:
        raise ConfigError("teacher and student must have the same depth")
    acts, gates, out = _layers(student, x)
    acts_t, gates_t, out_t = _layers(teacher, x)
    depth = student.depth
    s, n = x.shape[:2]
    # top (linear output): β = I, gates 1, so the layer below gets β_L = W̃ᵀ W̃* (Theorem 1)
    top, top_t = student.weights[-1], teacher.weights[-1]
    top = torch.cat([top, student.biases[-1][..., None]], -1)  # (S, c, n_L+1)
    top_t = torch.cat([top_t, teacher.biases[-1][..., None]], -1)  # (S, c, m_L+1)
    beta_star = [(top.mT @ top_t)[:, None].expand(s, n, -1, -1)]
    beta = [(top.mT @ top)[:, None].expand(s, n, -1, -1)]
    for layer in range(depth, 0, -1):  # node layer `layer` -> layer - 1
        a = augmented(student.weights[layer - 1], student.biases[layer - 1])[:, None]
        a_t = augmented(teacher.weights[layer - 1], teacher.biases[layer - 1])[:, None]
        g, g_t = gates[layer], gates_t[layer]
        bs = g[..., :, None] * beta_star[0] * g_t[..., None, :]  # f'_j β*_{jj°} f'_{j°}
        bb = g[..., :, None] * beta[0] * g[..., None, :]
        beta_star.insert(0, a.mT @ bs @ a_t)  # (S, N, n_{l-1}+1, m_{l-1}+1)
        beta.insert(0, a.mT @ bb @ a)
    grad_pre = []
    for layer in range(depth + 1):
        inner = (beta_star[layer] @ acts_t[layer][..., None]
                 - beta[layer] @ acts[layer][..., None])[..., 0]
        grad_pre.append((gates[layer] * inner)[..., :-1])
    grad_pre.append(out_t - out)
    return RuleTerms(tuple(acts), tuple(acts_t), tuple(gates), tuple(gates_t), tuple(beta_star),
                     tuple(beta), tuple(grad_pre), out_t - out)


def weight_gradients(terms: RuleTerms) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Mean over samples of the negative gradient of ℓ = ½|y* − y|² for every weight layer
    1..L+1: ``E[g_l f_{l−1}ᵀ]`` ``(S, n_l, n_{l−1})`` and ``E[g_l]`` ``(S, n_l)`` (biases)."""
    weights, biases = [], []
    for layer in range(1, terms.depth + 2):
        g, f = terms.grad_pre[layer], terms.act[layer - 1]
        full = g.mT @ f / g.shape[1]  # (S, n_l, n_{l-1}+1)
        weights.append(full[..., :-1])
        biases.append(full[..., -1])
    return tuple(weights), tuple(biases)


def autograd_gradients(teacher: Net, student: Net, x: Tensor) -> tuple[Tensor, ...]:
    """Reference by torch.autograd: −∂ℓ/∂z_l per sample for node layers 0..L+1 (layer 0: the
    student's input, the teacher's output held fixed), ℓ = ½ Σ_n |y*_n − y_n|²."""
    xs = x.detach().clone().requires_grad_(True)
    fwd = forward(student, xs)
    target = forward(teacher, x).output.detach()
    total = 0.5 * (target - fwd.output).pow(2).sum()
    grads = torch.autograd.grad(total, [xs, *fwd.pre, fwd.output])
    return tuple(-g for g in grads)


def rule_errors(teacher: Net, student: Net, x: Tensor) -> list[float]:
    """max |g_rule − g_autograd| per node layer 0..L+1 (float64 round-off when Theorem 1 holds)."""
    rule = gradient_rule(teacher, student, x).grad_pre
    ref = autograd_gradients(teacher, student, x)
    return [float((a - b).abs().max()) for a, b in zip(rule, ref, strict=True)]


def random_net(widths: tuple[int, ...], input_dim: int, output_dim: int, n_seeds: int, *,
               generator: torch.Generator, leaky_slope: float = 0.0, bias_std: float = 0.3,
               dtype: torch.dtype = torch.float64) -> Net:
    """S Gaussian fc nets: weights N(0, 1/fan_in), biases N(0, bias_std²)."""
    dims = [input_dim, *widths, output_dim]
    weights = tuple(torch.randn(n_seeds, o, i, generator=generator, dtype=dtype) / i**0.5
                    for i, o in zip(dims[:-1], dims[1:], strict=True))
    biases = tuple(torch.randn(n_seeds, o, generator=generator, dtype=dtype) * bias_std
                   for o in dims[1:])
    return Net("fc", weights, biases, leaky_slope)
