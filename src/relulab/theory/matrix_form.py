"""Luck Matters §3: the matrix form of the expected gradient and how good its decoupling is.

For weight layer l (node layer l−1 → l; augmented with the constant node, docs/theory.md):

.. math::
    L*_{kk°} = E[f_k f_{k°}],   D*_{jj°} = E[f'_j f'_{j°}],   β* = E[β*(x)],   H* = D* ∘ β*
    Ẇ_l ≈ H*_l W̃*_l L*_{l−1}ᵀ − H_l W̃_l L_{l−1}ᵀ

(student-student L, D, β, H likewise). This is the paper's ``Ẇ_l = L*_{l−1} W*_l H*_lᵀ − …`` in
the column-per-node convention, transposed to relulab's ``(out, in)`` rows. Two variants:

- ``predicted`` (the *consistent* form): H*, H keep the upper layer's constant node, so
  β*_{j,const} (the path through the bias node above) is counted as Theorem 1 says;
- ``predicted_orig`` (as the original ``test_multilayer.py``, which uses ``H[:-1, :-1]``): for
  every layer below the output the constant node is dropped from H*, H (columns too), i.e.
  ``H*[:n, :m] W̃*[:m] L*ᵀ − H[:n, :n] W̃[:n] Lᵀ``. At the output layer there is no constant node
  above, so both variants are equal there.

Both replace E[f_k f_{k°} f'_j β*_{jj°} f'_{j°}] by E[f f]·E[f' f']·E[β*], an approximation
except at the linear output layer (f' = 1, β = I); the true expected gradient is E[g_l f̃_{l−1}ᵀ]
from :mod:`relulab.theory.recursive` on the same samples, so the only difference between it and
``predicted`` is the decoupling (``predicted_orig`` also loses the constant node's path).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from relulab.nets.networks import Net
from relulab.theory.recursive import augmented, gradient_rule


@dataclass(frozen=True)
class LayerTerms:
    """Expectations for weight layer l (``n``/``m`` student/teacher widths, ``+1`` constant
    node; upper nodes of the output layer carry no constant node)."""

    L_star: Tensor  # (S, n_{l−1}+1, m_{l−1}+1) E[f̃_k f̃*_{k°}]
    L: Tensor  # (S, n_{l−1}+1, n_{l−1}+1)
    D_star: Tensor  # (S, n_l(+1), m_l(+1)) E[f'_j f'_{j°}]
    D: Tensor  # (S, n_l(+1), n_l(+1))
    beta_star: Tensor  # E[β*(x)], same shape as D_star
    beta: Tensor
    true_grad: Tensor  # (S, n_l, n_{l−1}+1) E[g_l f̃_{l−1}ᵀ], bias last column
    predicted: Tensor  # (S, n_l, n_{l−1}+1) H*W̃*L*ᵀ − HW̃Lᵀ, constant node kept (consistent)
    predicted_orig: Tensor  # same, constant node of layer l dropped from H*, H, W̃*, W̃ (original)

    @property
    def H_star(self) -> Tensor:
        return self.D_star * self.beta_star

    @property
    def H(self) -> Tensor:
        return self.D * self.beta

    @property
    def relative_error(self) -> Tensor:
        """``‖predicted − true‖_F / ‖true‖_F`` per seed ``(S,)``."""
        diff = (self.predicted - self.true_grad).flatten(1).norm(dim=1)
        return diff / self.true_grad.flatten(1).norm(dim=1).clamp_min(1e-300)


def _outer_mean(a: Tensor, b: Tensor) -> Tensor:
    return torch.einsum("sni,snj->sij", a, b)


def _matrix_forms(h_star: Tensor, w_t: Tensor, l_star: Tensor, h_ss: Tensor, w_s: Tensor,
                  l_ss: Tensor, n_up: int, m_up: int, top: bool) -> tuple[Tensor, Tensor]:
    """Consistent and original matrix forms of one layer ``(S, n_up, n_{l−1}+1)`` each, from
    ``h_star (S, n_up(+1), m_up(+1))``, ``w_t (S, m_up(+1), m_{l−1}+1)``,
    ``l_star (S, n_{l−1}+1, m_{l−1}+1)`` and the student-student ``h_ss``, ``w_s``, ``l_ss``."""
    pred = (h_star @ w_t @ l_star.mT - h_ss @ w_s @ l_ss.mT)[:, :n_up]
    if top:  # no constant node above the output layer: nothing to drop
        return pred, pred
    orig = (h_star[:, :n_up, :m_up] @ w_t[:, :m_up] @ l_star.mT
            - h_ss[:, :n_up, :n_up] @ w_s[:, :n_up] @ l_ss.mT)
    return pred, orig


def expectations(teacher: Net, student: Net, x: Tensor, *,
                 max_elements: int = 1 << 25) -> tuple[LayerTerms, ...]:
    """Estimate L*, L, D*, D, β*, β, the true expected gradient and both matrix-form predictions
    (consistent and original, see the module docstring) for every weight layer 1..L+1 from the
    samples ``x (S, N, d)`` (streamed in chunks so that the per-sample β tensors stay under
    ``max_elements`` entries; batched einsum inside a chunk)."""
    s, n_total = x.shape[:2]
    widest = max((w.shape[1] + 1) ** 2 for w in student.weights)
    chunk = max(1, min(n_total, max_elements // max(1, s * widest)))
    sums: dict[str, list[Tensor]] = {}

    def add(key: str, values: list[Tensor]) -> None:
        if key not in sums:
            sums[key] = values
        else:
            sums[key] = [a + b for a, b in zip(sums[key], values, strict=True)]

    for start in range(0, n_total, chunk):
        t = gradient_rule(teacher, student, x[:, start:start + chunk])
        depth = t.depth
        add("L_star", [_outer_mean(t.act[i], t.act_star[i]) for i in range(depth + 1)])
        add("L", [_outer_mean(t.act[i], t.act[i]) for i in range(depth + 1)])
        add("D_star", [_outer_mean(t.gates[i], t.gates_star[i]) for i in range(1, depth + 1)])
        add("D", [_outer_mean(t.gates[i], t.gates[i]) for i in range(1, depth + 1)])
        add("beta_star", [t.beta_star[i].sum(1) for i in range(1, depth + 1)])
        add("beta", [t.beta[i].sum(1) for i in range(1, depth + 1)])
        add("grad", [_outer_mean(t.grad_pre[i], t.act[i - 1]) for i in range(1, depth + 2)])
    mean = {key: [v / n_total for v in vals] for key, vals in sums.items()}
    depth = student.depth
    c = student.weights[-1].shape[1]
    eye = torch.eye(c, dtype=x.dtype, device=x.device).expand(s, c, c)
    ones = torch.ones(s, c, c, dtype=x.dtype, device=x.device)
    layers = []
    for layer in range(1, depth + 2):
        top = layer == depth + 1
        if top:  # linear output: f' = 1, β = I, no constant node above
            d_star = d_ss = ones
            b_star = b_ss = eye
            w_t = torch.cat([teacher.weights[-1], teacher.biases[-1][..., None]], -1)
            w_s = torch.cat([student.weights[-1], student.biases[-1][..., None]], -1)
        else:
            d_star, d_ss = mean["D_star"][layer - 1], mean["D"][layer - 1]
            b_star, b_ss = mean["beta_star"][layer - 1], mean["beta"][layer - 1]
            w_t = augmented(teacher.weights[layer - 1], teacher.biases[layer - 1])
            w_s = augmented(student.weights[layer - 1], student.biases[layer - 1])
        l_star, l_ss = mean["L_star"][layer - 1], mean["L"][layer - 1]
        n_up, m_up = student.weights[layer - 1].shape[1], teacher.weights[layer - 1].shape[1]
        pred, orig = _matrix_forms(d_star * b_star, w_t, l_star, d_ss * b_ss, w_s, l_ss,
                                   n_up, m_up, top)
        layers.append(LayerTerms(l_star, l_ss, d_star, d_ss, b_star, b_ss,
                                 mean["grad"][layer - 1], pred, orig))
    return tuple(layers)


def predicted_update(terms: tuple[LayerTerms, ...], *,
                     original: bool = False) -> tuple[Tensor, ...]:
    """The matrix-form Ẇ̃_l ``(S, n_l, n_{l−1}+1)`` (bias last column) of every layer: the
    consistent form, or with ``original=True`` the original code's (constant node dropped)."""
    return tuple(t.predicted_orig if original else t.predicted for t in terms)
