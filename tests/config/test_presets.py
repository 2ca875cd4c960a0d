"""Presets named after a paper or the original code carry its settings, field by field
(shared PAPERS.md §2–4; the line each value comes from is quoted beside it)."""

from relulab.config.presets import NINE_WEIGHTS, PRESETS, get_preset

LUCK_CHOICES = (-0.5, -0.25, 0.0, 0.25, 0.5)


def test_spec_two_layer_is_the_two_layer_original():
    c = get_preset("spec-two-layer")
    t, s, d, o = c.teacher, c.student, c.data, c.optim
    assert (t.input_dim, t.widths, t.output_dim) == (100, (10,), 50)  # d=100, c=50
    assert t.weight_choices == NINE_WEIGHTS == (-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1)
    assert (t.bias, t.bias_value) == ("constant", -0.1)  # teacher bias -0.1
    assert t.normalize == "fan_in" and t.fan_out_decay == 0.0  # W1 fan-in unit, W2 raw
    assert not t.bias_tuning and not t.standardize_output
    assert (s.init, s.init_std, s.scale_down, s.multi) == ("normal", 0.005, 1.0, 5)
    assert (d.kind, d.std, d.train_size, d.eval_size) == ("gaussian", 1.5, 10_000, 10_000)
    assert d.sampling == "replacement"  # random.choices
    assert (o.name, o.lr, o.batch_size, o.epochs, o.steps_per_epoch) == ("sgd", 0.01, 16, 100,
                                                                          1000)
    assert (o.momentum, o.weight_decay, o.lr_schedule) == (0.0, 0.0, ())
    assert o.loss == "half_sum" and c.dtype == "float64"  # hand update, float64
    assert not c.shared_teacher


def test_spec_multilayer_is_config_multilayer_plus_readme_command():
    c = get_preset("spec-multilayer")
    t, s, d, o = c.teacher, c.student, c.data, c.optim
    assert (t.input_dim, t.widths, t.output_dim) == (20, (50, 75, 100, 125), 100)
    assert t.weight_choices == NINE_WEIGHTS  # 9 weight choices
    assert (t.bias, t.bias_range) == ("uniform", 0.5)  # U(-0.5, 0.5)
    assert t.bias_tuning and t.standardize_output  # median tuning AND standardization
    assert t.normalize == "row_and_bias"
    assert (s.multi, s.init, s.scale_down) == (10, "default", 0.1)
    assert c.student_widths == (500, 750, 1000, 1250)
    assert (d.kind, d.std, d.train_size, d.eval_size, d.sampling) == (
        "gaussian", 10.0, 200_000, 10_240, "pass")  # random_dataset_size=200000
    assert (o.name, o.loss, o.batch_size, o.epochs) == ("sgd", "mse", 64, 100)
    assert o.lr_schedule == ((0, 0.2), (20, 0.1))
    assert [o.lr_at(e) for e in (0, 19, 20, 99)] == [0.2, 0.2, 0.1, 0.1]
    assert c.steps_per_epoch == 3125  # one full pass of 200,000 in batches of 64
    assert c.dtype == "float32"
    orig = get_preset("spec-multilayer-orig")
    assert orig.student.scale_down == 1.0  # the original's parameter reset undoes 0.1
    assert orig.teacher == t and orig.data == d and orig.optim == o


def test_luck_matters_presets():
    for name, widths, lr in (("luck-fc", (50, 75, 100, 125), 0.01),
                             ("luck-fc-small", (10, 15, 20, 25), 0.01),
                             ("luck-fc-readme", (10, 15, 20, 25), 0.05)):
        c = get_preset(name)
        t, d, o = c.teacher, c.data, c.optim
        assert (t.input_dim, t.widths, t.output_dim) == (20, widths, 100), name
        assert t.weight_choices == LUCK_CHOICES and (t.bias, t.bias_range) == ("uniform", 0.5)
        assert t.normalize == "row_and_bias" and not t.bias_tuning
        assert c.student.multi == 10 and c.student.init == "default"
        assert (d.std, d.train_size, d.eval_size) == (10.0, 100_000, 1024)
        assert (o.lr, o.batch_size, o.epochs, o.loss, c.dtype) == (lr, 64, 40, "mse", "float32")
        assert c.stats.train_samples == 192  # the original's 3 minibatches for winner ranks
    conv = get_preset("luck-conv").teacher
    assert (conv.kind, conv.widths, conv.image_size, conv.output_dim) == (
        "conv", (64, 64, 64, 64), 16, 100)


def test_every_preset_has_a_summary_and_validates():
    assert {"spec-two-layer", "spec-multilayer", "spec-multilayer-orig", "luck-fc-readme",
            "demo"} <= set(PRESETS)
    for p in PRESETS.values():
        assert p.summary and p.config.hash()


def test_luck_conv_small_is_luck_conv_at_cpu_size():
    """Same conventions as luck-conv; only widths, training set and epochs shrink, and the
    per-step FLOPs drop ~60x (3x3 convs, no padding, 16 -> 14 -> 12 -> 10 -> 8)."""
    full, small = get_preset("luck-conv"), get_preset("luck-conv-small")
    assert small.teacher.widths == (8, 8, 8, 8) and small.student == full.student
    assert (small.data.train_size, small.optim.epochs) == (12_800, 5)
    assert small.data.eval_size == full.data.eval_size and small.optim.lr == full.optim.lr

    def step_flops(widths):  # forward + 2 backward GEMM-equivalents, batch 64, student 10x
        chans, sides = [1, *(10 * w for w in widths)], [14, 12, 10, 8]
        return 3 * sum(2 * 64 * s * s * 9 * a * b
                       for s, a, b in zip(sides, chans[:-1], chans[1:], strict=True))

    assert 0.4e12 < step_flops(full.teacher.widths) < 0.5e12  # the 0.44 TFLOP in the summary
    assert step_flops(small.teacher.widths) < 8e9
    assert "GPU-sized" in PRESETS["luck-conv"].summary
