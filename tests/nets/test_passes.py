"""Streamed passes (relulab.nets.passes): the buffered chunks are the forward's activations, the
chunked squared error is the MSE, and the buffers are reused."""

import dataclasses

import pytest
import torch

from relulab.nets import passes
from relulab.nets.networks import Net, forward
from relulab.training import optim


def _net(widths=(6, 4), leaky=0.0, seeds=3, dtype=torch.float64, d=5, c=3) -> Net:
    g = torch.Generator().manual_seed(0)
    dims = (d, *widths, c)
    weights = tuple(torch.randn(seeds, o, i, generator=g, dtype=dtype)
                    for i, o in zip(dims[:-1], dims[1:], strict=True))
    biases = tuple(torch.randn(seeds, o, generator=g, dtype=dtype) for o in dims[1:])
    return Net(kind="fc", weights=weights, biases=biases, leaky_slope=leaky)


@pytest.mark.parametrize("leaky", [0.0, 0.1])
@pytest.mark.parametrize("chunk", [1, 4, 1000])  # one sample, a short last chunk, all at once
def test_hidden_chunks_are_the_forward_activations(leaky, chunk):
    net = _net(leaky=leaky)
    x = torch.randn(3, 11, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = forward(net, x).post
    seen = torch.zeros(11, dtype=torch.int64)
    for rows, post in passes.hidden_chunks(net, x, chunk):
        seen[rows] += 1
        assert len(post) == len(want)
        for got, ref in zip(post, want, strict=True):
            torch.testing.assert_close(got, ref[:, rows], rtol=1e-13, atol=1e-13)
    assert bool((seen == 1).all())


def test_hidden_chunks_reuse_their_buffers_and_cast_the_inputs():
    net = _net(dtype=torch.float32)
    x = torch.randn(3, 12, 5, dtype=torch.float64)
    ptrs = [post[0].data_ptr() for _, post in passes.hidden_chunks(net, x, 4)]
    assert len(set(ptrs)) == 1  # three chunks, one buffer
    _, post = next(passes.hidden_chunks(net, x, 4))
    assert post[0].dtype == torch.float32


def test_hidden_chunks_refuse_batchnorm_conv_and_empty_chunks():
    net = _net()
    with pytest.raises(ValueError, match="chunk must be"):
        next(passes.hidden_chunks(net, torch.zeros(3, 4, 5, dtype=torch.float64), 0))
    with pytest.raises(ValueError, match="fully connected"):
        next(passes.hidden_chunks(dataclasses.replace(net, kind="conv"), torch.zeros(3, 4, 5), 2))


def test_output_sq_error_sums_the_mse_over_samples():
    net = _net()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 9, 5, generator=g, dtype=torch.float64)
    y = torch.randn(3, 9, 3, generator=g, dtype=torch.float64)
    want = optim.mse_per_seed(forward(net, x).output, y) * 9
    top = passes.top_layer(net)
    got = sum(passes.output_sq_error(post[-1], top, y[:, rows])
              for rows, post in passes.hidden_chunks(net, x, 4))
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


def test_output_sq_error_in_parts_of_the_chunk_is_the_same_sum():
    net = _net()
    g = torch.Generator().manual_seed(3)
    h = torch.rand(3, 10, 4, generator=g, dtype=torch.float64)
    y = torch.randn(3, 10, 3, generator=g, dtype=torch.float64)
    top = passes.top_layer(net)
    whole = passes.output_sq_error(h, top, y)
    for budget in (1, 3 * 3 * 8 * 4):  # one sample per part; parts of 4, the last short
        torch.testing.assert_close(passes.output_sq_error(h, top, y, budget), whole,
                                   rtol=1e-13, atol=0)
