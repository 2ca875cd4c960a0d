"""Correlations with float32 cross-products on centred data and a guaranteed error bound.

:class:`Float32Correlator` gives what :class:`~relulab.metrics.LayerCorrelator` gives (per
hidden layer, ``(S, n, m)`` float64 Pearson correlations over the eval set) for fully connected
nets, with the one GEMM over the whole eval set (``student^T teacher``) in float32:

- teacher activations (fixed) are centred by their exact float64 mean and scaled to unit norm
  once, then kept as float32 ``t̂ (S, N, m)``;
- student activations are shifted by their mean over the first chunk (so ``|s'| ~ sigma_s``)
  and rounded to float32 ``s'``; every sum other than the cross-product is float64;
- the cross-product of each chunk of ``L`` samples is one float32 ``bmm``, summed in float64.

Error bound (Higham, Accuracy and Stability, Thm 3.5: a dot product of length L in floating
point has error at most ``gamma_L sum |a_i b_i|`` with ``gamma_L = L u / (1 - L u)``, ``u =
2^-24``; Cauchy-Schwarz gives ``sum |a_i b_i| <= |a| |b|``). Pearson correlation of the
float32 data against the exact one of the same data differs by at most

    ``(gamma_L + 4u) |s'| |t̂| / (sigma_s' sigma_t̂) + 4u``  per (student, teacher) pair,

(``4u`` covers rounding the centred data to float32 on both sides). For a float64 depth-1 net
the student's hidden layer is also computed in float32; its pre-activation error is at most
``gamma_{d+2} (|w_j| |x_i| + |b_j|)`` per sample (ReLU is 1-Lipschitz), which moves the
correlation by at most ``2 |Δs_j| / sigma_s``, added to the bound. The bound is computed from the
accumulated sums at every call (:attr:`last_bound`); where it exceeds ``tol`` the call is
redone with :class:`LayerCorrelator` (float64 sums), so the returned correlations are always
within ``tol`` (default 1e-3, against the 0.95 recovery threshold) of the float64 reference.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from relulab.metrics.correlations import EPS, LayerCorrelator
from relulab.nets.networks import Net, forward, hidden_only
from relulab.nets.passes import auto_chunk, hidden_chunks, output_sq_error, top_layer

U32 = 2.0 ** -24


def gamma(length: int) -> float:
    """``gamma_L = L u / (1 - L u)`` for float32 (Higham's constant)."""
    return length * U32 / (1 - length * U32)


class Float32Correlator:
    """Per-layer correlations of students with one fixed fc teacher on fixed inputs
    ``x (S, N, d)``, float32 cross-products over chunks of ``chunk`` samples, guaranteed within
    ``tol`` of float64 sums (module docstring)."""

    def __init__(self, teacher: Net, x: Tensor, *, chunk: int = 512, tol: float = 1e-3) -> None:
        if not teacher.plain_fc:
            raise ValueError("Float32Correlator needs a fully connected teacher without BN")
        self.teacher, self.x, self.chunk, self.tol = teacher, x, chunk, tol
        self.last_bound: tuple[float, ...] = ()
        self.last_loss: Tensor | None = None
        self.fallbacks = 0
        t_hat = [torch.cat(parts, dim=1) for parts in zip(
            *self._centred_teacher(), strict=True)]  # per layer (S, N, m) float32
        self._t_sum = [t.double().sum(1) for t in t_hat]  # (S, m)
        self._t_var = [(t.double().square().sum(1) - s.square() / x.shape[1]).clamp_min(0.0)
                       for t, s in zip(t_hat, self._t_sum, strict=True)]
        # a ones column: the cross-product GEMM also gives the student's sums
        self._t_aug = [torch.cat([t, torch.ones_like(t[..., :1])], -1) for t in t_hat]
        norms = x.double().flatten(2).norm(dim=-1)  # (S, N) |x_i|
        self._x_sq, self._x_sum = norms.square().sum(1), norms.sum(1)  # (S,)

    def _chunks(self) -> range:
        return range(0, self.x.shape[1], self.chunk)

    def _centred_teacher(self) -> list[tuple[Tensor, ...]]:
        """Per chunk, per layer, the teacher activations centred and unit-normed, float32
        (two passes over the eval set: float64 mean and norm, then the scaled chunks)."""
        hidden = hidden_only(self.teacher)

        def acts(i: int) -> list[Tensor]:
            return [a.double() for a in forward(hidden, self.x[:, i:i + self.chunk]).post]

        n = self.x.shape[1]
        means = [sum(parts) / n for parts in zip(*(
            [a.sum(1) for a in acts(i)] for i in self._chunks()), strict=True)]  # (S, m)
        norms = [sum(parts).sqrt() + EPS for parts in zip(*(
            [(a - mu.unsqueeze(1)).square().sum(1) for a, mu in zip(acts(i), means, strict=True)]
            for i in self._chunks()), strict=True)]  # (S, m)
        return [tuple(((a - mu.unsqueeze(1)) / nrm.unsqueeze(1)).float()
                      for a, mu, nrm in zip(acts(i), means, norms, strict=True))
                for i in self._chunks()]

    def _forward_error(self, student: Net) -> Tensor | None:
        """Bound on ``|Δs_j|`` over the eval set ``(S, n)`` for a float64 depth-1 student
        computed in float32, None when the student runs in its own dtype."""
        if student.depth != 1 or student.weights[0].dtype != torch.float64:
            return None
        w_norm = student.weights[0].norm(dim=-1)  # (S, n)
        b = student.biases[0].abs()
        g = gamma(self.x.shape[-1] + 2)
        sq = (w_norm.square() * self._x_sq[:, None] + 2 * w_norm * b * self._x_sum[:, None]
              + self.x.shape[1] * b.square())
        return g * sq.sqrt()

    @torch.no_grad()
    def __call__(self, student: Net, targets: Tensor | None = None) -> tuple[Tensor, ...]:
        """Per hidden layer, the correlations ``(S, n_l, m_l)`` of ``student`` with the teacher.

        With ``targets (S, N, c)`` (the outputs to fit on this correlator's samples) the same
        pass gives the student's MSE on them, :attr:`last_loss` ``(S,)`` float64 (None when not
        asked, or for a float64 student whose hidden layer runs in float32 here)."""
        if student.depth != self.teacher.depth:
            raise ValueError(f"depths differ: student {student.depth}, "
                             f"teacher {self.teacher.depth}")
        fwd_err = self._forward_error(student)
        net = student
        if fwd_err is not None:
            net = dataclasses.replace(student, weights=tuple(w.float() for w in student.weights),
                                      biases=tuple(b.float() for b in student.biases))
            targets = None
        if targets is not None and targets.shape[:2] != self.x.shape[:2]:
            raise ValueError(f"targets {tuple(targets.shape)} do not match the samples "
                             f"{tuple(self.x.shape[:2])}")
        sums, loss = self._accumulate(net, targets)
        self.last_loss = None if loss is None else loss / self.x.shape[1]
        corrs, bounds = [], []
        for layer, layer_sums in enumerate(sums):
            corr, bound = self._finish(layer, *layer_sums, fwd_err if layer == 0 else None)
            corrs.append(corr)
            bounds.append(float(bound.nan_to_num(0.0).max()) if bound.numel() else 0.0)
        self.last_bound = tuple(bounds)
        if max(bounds, default=0.0) > self.tol:
            self.fallbacks += 1
            return LayerCorrelator(self.teacher, self.x, cache_bytes=0)(student)
        return tuple(corrs)

    def _accumulate(self, net: Net, targets: Tensor | None
                    ) -> tuple[list[tuple[Tensor, Tensor, Tensor]], Tensor | None]:
        """Per layer: float64 sums of the shifted float32 student ``(S, n)``, of its squares
        ``(S, n)``, and the cross-products with t̂ ``(S, n, m)``; and, with ``targets``, the
        summed squared error of the outputs ``(S,)`` (else None)."""
        sums: list[list[Tensor]] = []
        shifts: list[Tensor] = []
        top = None if targets is None else top_layer(net)
        loss: Tensor | None = None
        for rows, post in hidden_chunks(net, self.x, self.chunk):  # buffers: change in place
            if top is not None and targets is not None:  # out = h W^T + b, before the shift
                part = output_sq_error(post[-1], top, targets[:, rows])
                loss = part if loss is None else loss.add_(part)
            if not shifts:
                shifts = [a.mean(1, keepdim=True) for a in post]
            for layer, (a, shift) in enumerate(zip(post, shifts, strict=True)):
                s = a.sub_(shift).float()  # (S, L, n)
                cross = torch.bmm(s.transpose(1, 2), self._t_aug[layer][:, rows]).double()
                # s is consumed: square it in place; a strided vector_norm is ~7x slower
                parts = [cross[..., -1], s.square_().sum(1).double(), cross[..., :-1]]
                if len(sums) <= layer:
                    sums.append(parts)
                else:
                    for total, part in zip(sums[layer], parts, strict=True):
                        total.add_(part)
        return [(p[0], p[1], p[2]) for p in sums], loss

    def _finish(self, layer: int, s_sum: Tensor, s_sq: Tensor, cross: Tensor,
                fwd_err: Tensor | None) -> tuple[Tensor, Tensor]:
        """Correlations ``(S, n, m)`` and their error bound from the accumulated sums."""
        n = self.x.shape[1]
        t_sum, t_var = self._t_sum[layer], self._t_var[layer]
        s_var = (s_sq - s_sum.square() / n).clamp_min(0.0)
        cov = cross - s_sum.unsqueeze(-1) * t_sum.unsqueeze(-2) / n
        s_norm, t_norm = s_var.sqrt() + EPS, t_var.sqrt() + EPS
        corr = cov / (s_norm.unsqueeze(-1) * t_norm.unsqueeze(-2))
        const = (s_var == 0).unsqueeze(-1) | (t_var == 0).unsqueeze(-2)
        corr = torch.where(const, 0.0, corr)
        finite = torch.isfinite(s_sum).unsqueeze(-1) & torch.isfinite(t_sum).unsqueeze(-2)
        corr = torch.where(finite, corr, torch.nan)
        t_len = (t_var + t_sum.square() / n).sqrt()  # |t̂|
        s_ratio = (s_sq.sqrt() / s_norm).unsqueeze(-1)  # |s'| / sigma_s'
        g = gamma(min(self.chunk, n))
        bound = ((g + 4 * U32) * s_ratio * (t_len / t_norm).unsqueeze(-2) + 4 * U32
                 + 2 * g * s_ratio.square()  # float32 sums of s' and s'^2: sigma_s' relative
                 + g * s_ratio * (t_sum.abs() / (n ** 0.5 * t_norm)).unsqueeze(-2))
        bound = torch.where(const | ~finite, 0.0, bound)  # exact 0 / NaN as the reference
        if fwd_err is not None:  # a node constant in float32 need not be in float64
            bound = bound + (2 * fwd_err / s_norm).unsqueeze(-1)
        return corr, bound


def correlator(teacher: Net, student: Net, x: Tensor, precision: str = "float32",
               chunk: int | None = None) -> LayerCorrelator | Float32Correlator:
    """The correlator of ``teacher`` on inputs ``x (S, N, ...)`` for students like
    ``student``: the bounded float32 path where ``precision`` is float32 and both nets allow
    it (fc, no BN), else float64 sums (:class:`LayerCorrelator`)."""
    if precision == "float32" and teacher.plain_fc and student.plain_fc:
        size = chunk or auto_chunk(x.shape[0], max(student.widths, default=1))
        return Float32Correlator(teacher, x, chunk=size)
    return LayerCorrelator(teacher, x, chunk=chunk)
