"""β and H of the student's hidden layers (Luck Matters Theorem 1, Student Specialization's
multilayer L-shape), batched over seeds and samples, no per-sample Python loop.

With a linear top (β = I there), β_l(x) = J_l(x)ᵀ J_l(x) where ``J_l(x) (c, n_l)`` is the
derivative of the output with respect to layer l's activations through the gates above:
``J_L = W_{L+1}``, ``J_l = J_{l+1} diag(f'_{l+1}(x)) W_{l+1}``. So
``diag E_x[β_kk] = E_x ‖J_l(x)[:, k]‖²`` and, in the matrix form ``H = D ∘ β`` with
``D = E[f' f'ᵀ]``, ``diag H = E[f'_k²] · E[β_kk]``. The multilayer L-shape plots
``sqrt(diag E[β_kk])`` against a node's best correlation; for the top hidden layer it is the
fan-out norm. Gates are the ReLU gates (BatchNorm, if any, is not differentiated through: the
original's convention, docs/conventions.md).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from relulab.nets.networks import Net, forward, gate


class BetaDiag(NamedTuple):
    """Per hidden layer l (lowest first), ``(S, n_l)`` each."""

    beta: tuple[Tensor, ...]  # diag E_x[β_kk(x)]
    h: tuple[Tensor, ...]  # diag H = E[f'_k²] E[β_kk]


@torch.no_grad()
def beta_diag(net: Net, x: Tensor, *, max_elements: int = 1 << 24) -> BetaDiag:
    """``diag E[β]`` and ``diag H`` of every hidden layer of fc nets ``net`` over the samples
    ``x (S, N, d)``, in chunks keeping the per-sample Jacobians ``(S, B, c, n_l)`` under
    ``max_elements`` entries."""
    if net.kind != "fc":
        raise ValueError("beta_diag needs fully connected nets")
    s, n_total = x.shape[:2]
    c = net.weights[-1].shape[1]
    chunk = max(1, min(n_total, max_elements // max(1, s * c * max(net.widths))))
    beta = [torch.zeros(s, w, dtype=torch.float64, device=x.device) for w in net.widths]
    gate_sq = [torch.zeros_like(b) for b in beta]
    for start in range(0, n_total, chunk):
        fw = forward(net, x[:, start:start + chunk])
        gates = [gate(z, net.leaky_slope) for z in fw.pre]  # (S, B, n_l)
        jac = net.weights[-1].unsqueeze(1)  # (S, 1, c, n_L): the same for every sample
        for layer in range(net.depth - 1, -1, -1):
            beta[layer] += jac.square().sum(dim=2).double().expand(
                -1, gates[layer].shape[1], -1).sum(dim=1)
            gate_sq[layer] += gates[layer].square().double().sum(dim=1)
            if layer > 0:  # (S, B, c, n_l) -> (S, B, c, n_{l-1})
                jac = torch.einsum("sbcj,sjk->sbck", jac * gates[layer].unsqueeze(2),
                                   net.weights[layer])
    beta = [b / n_total for b in beta]
    return BetaDiag(tuple(beta), tuple(b * g / n_total for b, g in zip(beta, gate_sq,
                                                                        strict=True)))
