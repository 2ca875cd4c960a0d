import math

import pytest
import torch

from relulab.config import ConfigError, TeacherConfig
from relulab.config.presets import NINE_WEIGHTS, get_preset
from relulab.nets.networks import forward, predict
from relulab.nets.teachers import distinct_rows, draw_teacher_weights, make_teachers
from relulab.rng import generator


def test_distinct_rows_values_and_uniqueness(generator):
    choices = torch.tensor([-0.5, -0.25, 0.0, 0.25, 0.5], dtype=torch.float64)
    rows = distinct_rows(40, 3, choices, generator=generator)  # 124 possible non-zero rows
    assert rows.shape == (40, 3)
    assert torch.isin(rows, choices).all()
    assert torch.unique(rows, dim=0).shape[0] == 40
    assert (rows.abs().sum(dim=1) > 0).all()


def test_distinct_rows_impossible_request_is_an_error(generator):
    with pytest.raises(ConfigError, match="distinct rows"):
        distinct_rows(9, 2, torch.tensor([-1.0, 0.0, 1.0]), generator=generator)  # only 8


def test_luck_teacher_rows_normalized_with_bias():
    """Luck Matters: every row and its bias divided by |row| + 1e-5, the raw rows drawn from
    the discrete set (distinct) and the raw biases from U(-0.5, 0.5). Normalization draws
    nothing, so the same generator with ``normalize="none"`` gives the raw draw."""
    cfg = get_preset("luck-fc-small").teacher
    raw_cfg = TeacherConfig(**{**cfg.__dict__, "normalize": "none"})
    weights, biases = draw_teacher_weights(cfg, generator=generator(0, 0, "teacher"))
    raw_w, raw_b = draw_teacher_weights(raw_cfg, generator=generator(0, 0, "teacher"))
    assert [w.shape for w in weights] == [(10, 20), (15, 10), (20, 15), (25, 20), (100, 25)]
    choices = torch.tensor(cfg.weight_choices, dtype=torch.float64)
    for w, b, rw, rb in zip(weights, biases, raw_w, raw_b, strict=True):
        assert torch.isin(rw, choices).all()
        assert torch.unique(rw, dim=0).shape[0] == rw.shape[0]
        assert (rb.abs() <= 0.5).all()
        norm = rw.norm(dim=1) + 1e-5
        # un-normalizing gives values in the discrete set: w * (|raw| + 1e-5) in choices
        assert torch.isin((w * norm[:, None]).round(decimals=12), choices).all()
        torch.testing.assert_close(w, rw / norm[:, None], rtol=1e-15, atol=0)
        torch.testing.assert_close(b, rb / norm, rtol=1e-15, atol=0)
        torch.testing.assert_close(w.norm(dim=1), torch.ones(w.shape[0], dtype=torch.float64),
                                   atol=1e-4, rtol=0)


def test_spec_teacher_fan_in_and_fan_out_decay():
    base = get_preset("spec-two-layer").teacher
    cfg = TeacherConfig(**{**base.__dict__, "fan_out_decay": 2.0})
    (w1, w2), (b1, b2) = draw_teacher_weights(cfg, generator=generator(0, 3, "teacher"))
    torch.testing.assert_close(w1.norm(dim=1), torch.ones(10, dtype=torch.float64))
    assert torch.equal(b1, torch.full((10,), -0.1, dtype=torch.float64))
    # undo the decay: column i times (i+1)^2 lands back in the nine-value set
    raw = w2 * (torch.arange(10, dtype=torch.float64) + 1) ** 2
    assert torch.isin(raw.round(decimals=9), torch.tensor(NINE_WEIGHTS, dtype=torch.float64)).all()
    assert torch.equal(w2[:, 0], raw[:, 0])  # node 0 untouched


def test_bias_tuning_gives_half_active_nodes():
    cfg = get_preset("spec-multilayer").teacher
    g = generator(0, 0, "eval")
    x = torch.randn(2, 4001, cfg.input_dim, generator=g, dtype=torch.float64) * 1.5
    net = make_teachers(cfg, [generator(0, s, "teacher") for s in (0, 1)], tuning_inputs=x,
                        dtype=torch.float64)
    for pre in forward(net, x).pre:
        frac = (pre > 0).double().mean(dim=1)  # (S, n)
        # median split: exactly half of an odd sample count is strictly above (ties aside)
        assert torch.allclose(frac, torch.full_like(frac, 2000 / 4001), atol=1e-3)


def test_output_standardization():
    base = get_preset("luck-fc-small").teacher
    cfg = TeacherConfig(**{**base.__dict__, "standardize_output": True})
    x = torch.randn(3, 2048, 20, generator=generator(0, 0, "eval"), dtype=torch.float64) * 10
    net = make_teachers(cfg, [generator(0, s, "teacher") for s in range(3)], tuning_inputs=x,
                        dtype=torch.float64)
    out = predict(net, x)
    torch.testing.assert_close(out.mean(1), torch.zeros(3, 100, dtype=torch.float64),
                               atol=1e-9, rtol=0)
    torch.testing.assert_close(out.std(1), torch.ones(3, 100, dtype=torch.float64))


def test_conv_teacher_shapes_and_filter_norms():
    cfg = get_preset("luck-conv").teacher
    net = make_teachers(cfg, [generator(0, s, "teacher") for s in range(2)])
    shapes = [tuple(w.shape) for w in net.weights[:-1]]
    assert shapes == [(2, 64, 1, 3, 3)] + [(2, 64, 64, 3, 3)] * 3
    assert tuple(net.weights[-1].shape) == (2, 100, 64 * 8 * 8)
    norms = net.weights[1].flatten(2).norm(dim=2)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
    assert not math.isnan(float(net.biases[0].sum()))


def test_conv_fan_out_decay_divides_every_tap_of_input_channel_i():
    """PAPERS.md: all 9 taps of input channel i of a conv layer above the first are divided by
    (i+1)^p (then the filter is renormalized), not each flattened column."""
    base = TeacherConfig(kind="conv", widths=(3, 4, 5), output_dim=6, image_size=10)
    decayed = TeacherConfig(**{**base.__dict__, "fan_out_decay": 1.5})
    (w0, _), (w1, _) = (draw_teacher_weights(c, generator=generator(0, 7, "teacher"))
                        for c in (base, decayed))
    for layer in (1, 2):  # (out, C_in, 3, 3): same discrete draw, decayed per channel
        a, b = w0[layer], w1[layer]
        channel = torch.arange(a.shape[1], dtype=torch.float64) + 1
        undone = b * channel.pow(1.5)[None, :, None, None]  # = a * (per-filter constant)
        nz = a != 0
        ratio = torch.where(nz, undone / torch.where(nz, a, 1.0), torch.nan).flatten(1)
        per_filter = ratio.nanmean(1, keepdim=True)
        assert torch.allclose(ratio[nz.flatten(1)], per_filter.expand_as(ratio)[nz.flatten(1)],
                              rtol=1e-9)
        assert ((b == 0) == (a == 0)).all()
