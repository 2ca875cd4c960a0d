"""Streamed passes of batched fully connected nets over a fixed sample set.

The statistics and the eval loss read every member's whole eval (and train) set each epoch:
at the paper sweep's largest group that is 192 members x 10000 samples x 200 nodes, 1.5 GB of
hidden activations per pass. :func:`hidden_chunks` streams them in cache-sized chunks through
buffers allocated once per pass (a fresh 16 MB tensor per op and chunk costs page faults and
zeroing that are ~20 % of a correlator call), with each weight held as a row-major right
operand (batched GEMMs on CPU run ~1.3x faster so). :func:`output_sq_error` turns one chunk's
last hidden layer into the squared error of the outputs (the eval MSE), so that one pass can
give both the correlations and the loss.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from relulab.nets.networks import Net


def auto_chunk(num_seeds: int, width: int, budget_bytes: int = 16 << 20) -> int:
    """Samples per chunk so that one layer's float32 activations ``(S, L, width)`` take about
    ``budget_bytes`` (cache-sized passes), between 64 and 1024."""
    return max(64, min(1024, budget_bytes // max(1, 4 * num_seeds * width)))


def eval_chunk(net: Net, x: Tensor) -> int:
    """The chunk of a pass of ``net`` over ``x (S, N, ...)`` that gives the eval loss: the eval
    loss is the same number whichever pass computes it (the engine's own, or a statistics
    pass that shares its work) because both use these chunks."""
    return auto_chunk(x.shape[0], max(net.widths, default=1))


def hidden_chunks(net: Net, x: Tensor, chunk: int) -> Iterator[tuple[slice, tuple[Tensor, ...]]]:
    """Per chunk of ``chunk`` samples of ``x (S, N, d)``: the chunk's slice of the samples and
    the post-activations ``(S, L, n_l)`` of every hidden layer of ``net`` on it, in the net's
    dtype (``x`` is cast). The activations live in buffers that the next chunk overwrites: a
    consumer may change them in place, and must copy what it keeps."""
    if not net.plain_fc:
        raise ValueError("hidden_chunks needs a fully connected net without BatchNorm")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    dtype = net.weights[0].dtype
    w_t = [w.transpose(1, 2).contiguous() for w in net.weights[:-1]]  # (S, in, out) row-major
    biases = [b.unsqueeze(1) for b in net.biases[:-1]]  # (S, 1, out)
    buffers: dict[int, list[Tensor]] = {}  # by chunk length: the full one and the last one
    num_seeds, n = x.shape[:2]
    for start in range(0, n, chunk):
        xc = x[:, start:start + chunk].to(dtype)
        length = xc.shape[1]
        if length not in buffers:
            buffers[length] = [xc.new_empty(num_seeds, length, w.shape[2]) for w in w_t]
        h = xc
        for w, b, z in zip(w_t, biases, buffers[length], strict=True):
            torch.baddbmm(b, h, w, out=z)
            if net.leaky_slope:
                torch.nn.functional.leaky_relu_(z, net.leaky_slope)
            else:
                z.clamp_min_(0.0)
            h = z
        yield slice(start, start + length), tuple(buffers[length])


def top_layer(net: Net) -> tuple[Tensor, Tensor]:
    """The output layer as :func:`output_sq_error` takes it: ``W^T (S, n_L, c)`` row-major and
    the bias ``(S, 1, c)``."""
    return net.weights[-1].transpose(1, 2).contiguous(), net.biases[-1].unsqueeze(1)


def output_sq_error(h: Tensor, top: tuple[Tensor, Tensor], y: Tensor,
                    budget_bytes: int = 16 << 20) -> Tensor:
    """Sum over the chunk's samples of the mean over outputs of ``(out - y)^2``, ``(S,)``
    float64, where ``out = h W^T + b`` from the last hidden layer ``h (S, L, n_L)`` and
    ``top`` from :func:`top_layer`; ``y (S, L, c)``. ``out - y`` is one GEMM (``beta=-1``
    takes ``y`` off) and one bias pass per part of the chunk whose outputs take about
    ``budget_bytes`` (the outputs can be much wider than ``h``)."""
    w_t, b = top
    num_seeds, length, c = y.shape
    part = max(1, budget_bytes // (h.element_size() * num_seeds * c))
    total = torch.zeros(num_seeds, dtype=torch.float64, device=h.device)
    for i in range(0, length, part):
        diff = torch.baddbmm(y[:, i:i + part].to(h.dtype), h[:, i:i + part], w_t, beta=-1)
        diff.add_(b)
        total += torch.linalg.vector_norm(diff.reshape(num_seeds, -1), dim=1).double().square()
    return total / c
