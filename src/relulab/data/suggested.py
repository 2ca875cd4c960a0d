"""The theory-suggested training set of Student Specialization (docs/conventions.md, the two-layer
original's ``theory_suggest_train``): points on every teacher node's boundary and their shifts
along the node's normal, which replaces the Gaussian training set (the eval set stays Gaussian).

For teacher hidden node i with augmented weight ``w = [u_i; b_i]`` (``d + 1``), ``k = ⌈N/(3m)⌉``
points ``z ~ N(0, σ² I_d)`` get a 1 appended and are projected onto the hyperplane ``wᵀz̃ = 0``
(``z̃' = z̃ − (wᵀz̃) w / |w|²``) and de-homogenized (divided by their last coordinate), so that
``u_iᵀx + b_i = 0``; then ``x``, ``x + α u_i`` and ``x − α u_i`` with one ``α ~ U[mean, mean +
width)`` per point; finally every point is rescaled to norm ``σ√d``. Order: node 0's boundary
points, their + shifts, their − shifts, then node 1's, ... Size ``3·m·⌈N/(3m)⌉``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from relulab.config import RunConfig
from relulab.nets.networks import Net
from relulab.rng import data_seed, generator


def set_size(train_size: int, m: int) -> int:
    """Samples in the theory-suggested set of nominal size ``N`` for ``m`` teacher nodes."""
    return 3 * m * math.ceil(train_size / (3 * m))


def boundary_points(weight: Tensor, bias: Tensor, z: Tensor) -> Tensor:
    """Project Gaussian draws onto each teacher node's boundary.

    ``weight (m, d)``, ``bias (m,)``, ``z (m, k, d)`` -> ``(m, k, d)`` points x with
    ``weight[i] · x + bias[i] = 0`` (float64 math, the inputs' dtype out is the caller's)."""
    w = torch.cat([weight, bias[:, None]], dim=1)  # (m, d+1) augmented
    zt = torch.cat([z, torch.ones_like(z[..., :1])], dim=-1)  # (m, k, d+1)
    coef = (zt @ w[:, :, None]) / w.square().sum(dim=1)[:, None, None]  # (m, k, 1)
    proj = zt - coef * w[:, None, :]
    return proj[..., :-1] / proj[..., -1:]


def theory_suggested_set(weight: Tensor, bias: Tensor, train_size: int, std: float,
                         alpha_mean: float, alpha_width: float, *,
                         generator: torch.Generator) -> Tensor:
    """One seed's theory-suggested training set ``(3·m·⌈N/(3m)⌉, d)``, float64.

    ``weight (m, d)`` / ``bias (m,)``: the teacher's first layer. Gaussian draws in float32
    (as :func:`relulab.data.draw`), then float64 math."""
    m, d = weight.shape
    k = math.ceil(train_size / (3 * m))
    z = torch.randn((m, k, d), generator=generator).to(torch.float64) * std
    alpha = torch.rand((m, k, 1), generator=generator).to(torch.float64)
    alpha = alpha * alpha_width + alpha_mean
    w64, b64 = weight.detach().cpu().double(), bias.detach().cpu().double()
    x = boundary_points(w64, b64, z)  # (m, k, d)
    shift = alpha * w64[:, None, :]  # (m, k, d)
    points = torch.stack([x, x + shift, x - shift], dim=1).reshape(3 * m * k, d)
    return points / points.norm(dim=1, keepdim=True) * (std * math.sqrt(d))


def theory_suggested_inputs(weights: Tensor, biases: Tensor, train_size: int,
                            stds: list[float], alphas: list[tuple[float, float]],
                            generators: list[torch.Generator]) -> Tensor:
    """The training sets of S members ``(S, 3·m·⌈N/(3m)⌉, d)`` (float64, CPU) from their
    teachers' first layers ``weights (S, m, d)``, ``biases (S, m)``; member i uses
    ``stds[i]``, ``alphas[i] = (mean, width)`` and ``generators[i]``."""
    sets = [theory_suggested_set(w, b, train_size, sd, a[0], a[1], generator=g)
            for w, b, sd, a, g in zip(weights, biases, stds, alphas, generators, strict=True)]
    return torch.stack(sets)


def training_set(cfgs: list[RunConfig], seeds: list[int], teacher: Net,
                 default: Callable[[], Tensor | None], like: Tensor) -> Tensor | None:
    """The training inputs of one batched run: ``default()`` (the data source's set) unless
    the members use ``data.kind = theory_suggested`` (all or none of a group, see
    :func:`relulab.config.group_key`); then each member's theory-suggested set from its own
    teacher and its ``"train"`` generator, as ``like``'s dtype and device."""
    if cfgs[0].data.kind != "theory_suggested":
        return default()
    gens = [generator(c.root_seed, data_seed(s, c.shared_teacher), "train")
            for c, s in zip(cfgs, seeds, strict=True)]
    x = theory_suggested_inputs(
        teacher.weights[0], teacher.biases[0], int(cfgs[0].data.train_size or 0),
        [c.data.std for c in cfgs], [(c.data.alpha_mean, c.data.alpha_width) for c in cfgs],
        gens)
    return x.to(device=like.device, dtype=like.dtype)


class SuggestedSource:
    """A data source whose training set is the theory-suggested one of each member's teacher
    (``data.kind = theory_suggested``), around the source ``inner`` that gives the eval set
    and the batch streams: the teacher-dependent training set plugs in as any data source
    does (:class:`relulab.data.DataSource`)."""

    def __init__(self, inner: Any, cfgs: list[RunConfig], seeds: list[int], teacher: Net):
        self.inner, self.cfgs, self.seeds, self.teacher = inner, cfgs, seeds, teacher
        self.input_shape = inner.input_shape
        self._eval: Tensor | None = None

    def eval_inputs(self) -> Tensor:
        if self._eval is None:
            self._eval = self.inner.eval_inputs()
        return self._eval

    def train_inputs(self) -> Tensor | None:
        return training_set(self.cfgs, self.seeds, self.teacher, self.inner.train_inputs,
                            self.eval_inputs())

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> Any:
        return self.inner.stream(batch_size, train_x, targets)


def with_teacher(source: Any, cfgs: list[RunConfig], seeds: list[int], teacher: Net) -> Any:
    """``source`` itself, or the :class:`SuggestedSource` around it when the members train on
    the theory-suggested set of their teachers."""
    if cfgs[0].data.kind != "theory_suggested":
        return source
    return SuggestedSource(source, cfgs, seeds, teacher)
