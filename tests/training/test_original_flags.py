"""The original code's flags as config options, each against a hand-written
reference of the original's behaviour (PAPERS.md §4): plain ``torch.nn`` modules with
``torch.optim.SGD`` for the multilayer code's flags, the two-layer code's hand update
``W <- W + lr·(1/B)·hᵀ(y_t − y_s)`` for its own flags. All in float64 at small sizes."""

import pytest
import torch
from torch import nn

from relulab import get_preset, with_overrides
from relulab.config import ConfigError, RunConfig
from relulab.data import draw
from relulab.nets import rules as constraints
from relulab.nets.networks import BN_EPS, predict
from relulab.nets.teachers import draw_teacher_weights
from relulab.rng import generator
from relulab.threads import one_thread
from relulab.training import fused
from relulab.training.engine import train
from relulab.training.setup import build

TOL = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: torch's thread pool only adds latency on a shared machine."""
    with one_thread():
        yield


def small(**over):
    """A deep fc run (d=6, widths 3-4, multi 2, c=5) in float64, plain SGD on the MSE."""
    base = {"d": 6, "m": "3,4", "multi": 2, "c": 5, "N": 64, "data.eval_size": 40, "batch": 8,
            "epochs": 1, "steps_per_epoch": 5, "dtype": "float64", "lr": 0.05, "sigma": 1.0}
    return with_overrides(RunConfig(), {**base, **over})


def two_layer(**over):
    """spec-two-layer (half_sum, float64, replacement) at d=8, m=3, n=6, c=4."""
    base = {"d": 8, "m": 3, "multi": 2, "c": 4, "N": 100, "data.eval_size": 40,
            "epochs": 1, "steps_per_epoch": 6, "student.init_std": 0.3}
    return with_overrides(get_preset("spec-two-layer"), {**base, **over})


def engine_batches(cfg, seeds, steps):
    """The engine's first ``steps`` batches ``(x, teacher(x))``: a fresh stream of the same
    source draws them again (every generator derives from (root_seed, seed, stream))."""
    teacher, student, src = build(cfg, seeds)
    stream = src.stream(cfg.batch_size)
    out = []
    for _ in range(steps):
        xb = stream.next()[0]
        out.append((xb, predict(teacher, xb)))
    return teacher, student, out


def reference_modules(mods, batches, lr, loss_fn, after_step=lambda mod: None):
    """Train one plain module per seed with torch.optim.SGD on the given batches."""
    opts = [torch.optim.SGD(m.parameters(), lr=lr) for m in mods]
    for xb, yb in batches:
        for i, (mod, opt) in enumerate(zip(mods, opts, strict=True)):
            opt.zero_grad()
            loss_fn(mod(xb[i]), yb[i]).backward()
            opt.step()
            with torch.no_grad():
                after_step(mod)


def module_tensors(mod):
    """(weights, biases, bn scales, bn shifts, bn means, bn vars) of a plain module."""
    lins = [m for m in mod if isinstance(m, nn.Linear | nn.Conv2d)]
    bns = [m for m in mod if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    return ([m.weight for m in lins], [m.bias for m in lins],
            [b.weight for b in bns if b.affine], [b.bias for b in bns if b.affine],
            [b.running_mean for b in bns], [b.running_var for b in bns])


def assert_net_equals_modules(net, mods):
    for i, mod in enumerate(mods):
        names = ("weights", "biases", "bn_weight", "bn_bias", "bn_mean", "bn_var")
        for name, ref in zip(names, module_tensors(mod), strict=True):
            got = [t[i] for t in getattr(net, name)]
            assert len(got) == len(ref), name
            for g, r in zip(got, ref, strict=True):
                torch.testing.assert_close(g, r.detach(), **TOL)


# --- BatchNorm: before the ReLU, affine, in the teacher --------------------------------------

CONV = {"teacher.kind": "conv", "teacher.image_size": 7, "m": "2,3", "N": 32}


@pytest.mark.parametrize("before,affine,kind", [(True, True, "fc"), (True, False, "fc"),
                                                (False, True, "fc"), (True, True, "conv")])
def test_student_batchnorm_variants_train_like_plain_modules(before, affine, kind, as_module):
    cfg = small(**{"student.batchnorm": True, "student.bn_before_relu": before,
                   "student.bn_affine": affine, **(CONV if kind == "conv" else {})})
    _, student, batches = engine_batches(cfg, [0, 1], 5)
    mods = [as_module(student, i).train() for i in range(2)]
    bns = [m for m in mods[0] if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    assert len(bns) == 2 and all(b.affine == affine for b in bns)
    reference_modules(mods, batches, cfg.optim.lr, nn.functional.mse_loss)
    result = train(cfg, [0, 1], max_steps=5)
    assert_net_equals_modules(result.student, mods)


def hand_teacher(cfg, seed, x):
    """The teacher's outputs on ``x (N, d)`` written out: per layer the original's bias tuning
    (median of the linear output) then BatchNorm with the eval set's mean and unbiased variance,
    before or after the ReLU."""
    ws, bs = draw_teacher_weights(cfg.teacher, generator=generator(cfg.root_seed, seed, "teacher"))
    h = x
    for w, b in zip(ws[:-1], bs[:-1], strict=True):
        z = h @ w.T + b
        if cfg.teacher.bias_tuning:
            z = z - z.sort(dim=0).values[(len(x) - 1) // 2]  # torch's (lower) median
        u = z if cfg.teacher.bn_before_relu else torch.relu(z)
        u = (u - u.mean(0)) / (u.var(0) + BN_EPS).sqrt()
        h = torch.relu(u) if cfg.teacher.bn_before_relu else u
    return h @ ws[-1].T + bs[-1]


@pytest.mark.parametrize("before", [False, True])
@pytest.mark.parametrize("tune", [False, True])
def test_teacher_batchnorm_uses_the_eval_sets_statistics(before, tune):
    cfg = small(**{"teacher.batchnorm": True, "teacher.bn_before_relu": before,
                   "teacher.bias_tuning": tune})
    teacher, _, src = build(cfg, [0, 1])
    x = src.eval_inputs()
    assert teacher.batchnorm and not teacher.bn_weight
    for i in range(2):
        torch.testing.assert_close(predict(teacher, x)[i], hand_teacher(cfg, i, x[i]), **TOL)
    plain, _, _ = build(small(), [0])
    assert not torch.allclose(predict(plain, x[:1]), predict(teacher.select([0]), x[:1]))


# --- renormalization, no biases, frozen layers -----------------------------------------------

def two_layer_update(w1, b1, w2, b2, x, y_t, lr, nonlinear=True):
    """The two-layer original's update (one seed, weights (out, in)), its ``forward`` and
    ``backward`` with ``nonlinear`` as in recon_two_layer.py."""
    z = x @ w1.T + b1
    h = torch.relu(z) if nonlinear else z
    err = y_t - (h @ w2.T + b2)
    back = (err @ w2) * (z > 0) if nonlinear else err @ w2
    k = lr / x.shape[0]
    return [w1 + k * back.T @ x, b1 + k * back.sum(0), w2 + k * err.T @ h, b2 + k * err.sum(0)]


def run_two_layer_reference(cfg, seeds, steps, after_step):
    """Seeds' (W1, b1, W2, b2) after ``steps`` hand updates, ``after_step(params, init)``
    applying a flag's rule (also once at init, with ``init`` None)."""
    _, student, batches = engine_batches(cfg, seeds, steps)
    out = []
    for i in seeds:
        p = [student.weights[0][i], student.biases[0][i], student.weights[1][i],
             student.biases[1][i]]
        p = after_step(p, None)
        init = [t.clone() for t in p]
        for xb, yb in batches:
            p = after_step(two_layer_update(*p, xb[i], yb[i], cfg.optim.lr,
                                            cfg.student.leaky_slope == 0.0), init)
        out.append(p)
    return out


def assert_two_layer(net, expected):
    for i, p in enumerate(expected):
        got = [net.weights[0][i], net.biases[0][i], net.weights[1][i], net.biases[1][i]]
        for g, e in zip(got, p, strict=True):
            torch.testing.assert_close(g, e, **TOL)


def test_fan_in_normalize_is_the_two_layer_codes_normalize_w1():
    cfg = two_layer(**{"student.normalize": "fan_in"})

    def normalize_w1(p, init):  # W[:-1, :] /= W[:-1, :].norm(dim=0) on the (d+1, n) layout
        return [p[0] / p[0].norm(dim=1, keepdim=True), *p[1:]]

    expected = run_two_layer_reference(cfg, [0, 1], 6, normalize_w1)
    result = train(cfg, [0, 1])
    assert_two_layer(result.student, expected)
    torch.testing.assert_close(result.student.weights[0].norm(dim=2),
                               torch.ones(2, 6, dtype=torch.float64), **TOL)


def test_row_and_bias_normalize_is_the_multilayer_codes_model_normalize(as_module):
    cfg = small(**{"student.normalize": "row_and_bias"})
    _, student, batches = engine_batches(cfg, [0, 1], 5)

    def normalize(mod):  # model_gen.normalize_layer on every Linear, the output layer too
        for lin in (m for m in mod if isinstance(m, nn.Linear)):
            norm = lin.weight.norm(dim=1) + 1e-5
            lin.weight /= norm[:, None]
            lin.bias /= norm

    mods = [as_module(student, i) for i in range(2)]
    with torch.no_grad():
        for mod in mods:
            normalize(mod)  # the original normalizes once before training, too
    reference_modules(mods, batches, cfg.optim.lr, nn.functional.mse_loss, normalize)
    assert_net_equals_modules(train(cfg, [0, 1]).student, mods)


def test_no_bias_networks_equal_bias_free_modules():
    cfg = small(**{"teacher.bias": "none", "student.bias": False})
    teacher, student, batches = engine_batches(cfg, [0, 1], 5)
    assert all(not b.any() for b in (*teacher.biases, *student.biases))
    mods = []
    for i in range(2):
        lins = [nn.Linear(w.shape[2], w.shape[1], bias=False, dtype=torch.float64)
                for w in student.weights]
        with torch.no_grad():
            for lin, w in zip(lins, student.weights, strict=True):
                lin.weight.copy_(w[i])
        mods.append(nn.Sequential(lins[0], nn.ReLU(), lins[1], nn.ReLU(), lins[2]))
    reference_modules(mods, batches, cfg.optim.lr, nn.functional.mse_loss)
    result = train(cfg, [0, 1])
    assert all(not b.any() for b in result.student.biases)
    for i, mod in enumerate(mods):
        for w, lin in zip(result.student.weights, mod[::2], strict=True):
            torch.testing.assert_close(w[i], lin.weight.detach(), **TOL)


@pytest.mark.parametrize("frozen", ["0", "-1"])
def test_frozen_layer_is_the_two_layer_codes_fixed_flags(frozen):
    cfg = two_layer(**{"student.frozen": frozen})
    layer = int(frozen) % 2  # feature_fixed = layer 0 (W1 and its bias), top_layer_fixed = 1

    def keep(p, init):
        if init is not None:
            p[2 * layer:2 * layer + 2] = init[2 * layer:2 * layer + 2]
        return p

    expected = run_two_layer_reference(cfg, [0, 1], 6, keep)
    result = train(cfg, [0, 1])
    assert_two_layer(result.student, expected)
    _, student, _ = build(cfg, [0, 1])
    assert torch.equal(result.student.weights[layer], student.weights[layer])
    assert not torch.equal(result.student.weights[1 - layer], student.weights[1 - layer])


def test_frozen_layers_hold_on_the_autograd_path_too():
    cfg = small(**{"student.frozen": "0,-1", "optim.name": "adam", "lr": 0.01})
    _, student, _ = build(cfg, [0, 1])
    result = train(cfg, [0, 1])
    for layer in (0, 2):
        assert torch.equal(result.student.weights[layer], student.weights[layer])
        assert torch.equal(result.student.biases[layer], student.biases[layer])
    assert not torch.equal(result.student.weights[1], student.weights[1])


def test_rules_leave_members_with_non_finite_loss_untouched():
    cfg = small(**{"student.normalize": "row_and_bias", "student.bias": False})
    _, student, _ = build(small(), [0, 1])  # biases not 0
    _, rules = constraints.prepare(cfg.student, student)
    assert rules is not None
    out = constraints.apply(rules, student, torch.tensor([True, False]))
    for new, old in zip(out.parameters(), student.parameters(), strict=True):
        assert torch.equal(new[1], old[1])
    assert not out.biases[0][0].any() and student.biases[0][0].any()


# --- cross-entropy, linear networks, regenerated training sets -------------------------------

def test_cross_entropy_trains_like_torch_cross_entropy_on_teacher_argmax(as_module, monkeypatch):
    cfg = small(loss="cross_entropy")
    _, student, batches = engine_batches(cfg, [0, 1], 5)
    mods = [as_module(student, i) for i in range(2)]

    def ce(out, target):  # recon_multilayer.py's loss_func
        return nn.CrossEntropyLoss()(out, target.max(1)[1])

    reference_modules(mods, batches, cfg.optim.lr, ce)

    def no_fused(*args, **kwargs):
        raise AssertionError("the fused step cannot take the cross-entropy")

    monkeypatch.setattr(fused, "sgd_step", no_fused)
    monkeypatch.setattr(fused, "fast_step", no_fused)
    result = train(cfg, [0, 1])
    assert_net_equals_modules(result.student, mods)
    teacher, _, src = build(cfg, [0, 1])
    x = src.eval_inputs()
    for i, mod in enumerate(mods):  # eval_loss is the objective: the cross-entropy
        ref = ce(mod(x[i]), predict(teacher, x)[i])
        torch.testing.assert_close(result.eval_loss[i], ref.detach(), **TOL)


def test_slope_one_is_the_two_layer_codes_nonlinear_false():
    cfg = two_layer(**{"teacher.leaky_slope": 1.0, "student.leaky_slope": 1.0})
    teacher, _, src = build(cfg, [0])
    x = src.eval_inputs()[0]
    w1, b1, w2, b2 = teacher.weights[0][0], teacher.biases[0][0], teacher.weights[1][0], \
        teacher.biases[1][0]
    torch.testing.assert_close(predict(teacher, x[None])[0], x @ (w2 @ w1).T + w2 @ b1 + b2,
                               **TOL)
    expected = run_two_layer_reference(cfg, [0, 1], 6, lambda p, init: p)
    assert_two_layer(train(cfg, [0, 1]).student, expected)


def rows_of(batches, s):
    return {tuple(r) for xb in batches for r in xb[s].tolist()}


@pytest.mark.parametrize("sampling", ["pass", "replacement"])
def test_regenerate_draws_a_new_training_set_every_epoch(sampling):
    cfg = small(N=16, batch=8, steps_per_epoch=2, sampling=sampling,
                **{"data.regenerate": True})
    _, _, src = build(cfg, [0, 1])
    stream = src.stream(8)
    epochs = [[stream.next()[0] for _ in range(2)] for _ in range(3)]
    for s in range(2):
        sets = [src.train_inputs()[s]] + [
            draw("gaussian", 1.0, (16, 6), generator=generator(0, s, f"train/{k}"),
                 dtype=torch.float64) for k in (1, 2)]
        for k in range(3):
            own = {tuple(r) for r in sets[k].tolist()}
            assert rows_of(epochs[k], s) <= own
            if sampling == "pass":  # one full shuffled pass over epoch k's set
                assert rows_of(epochs[k], s) == own
        assert not {tuple(r) for r in sets[0].tolist()} & {tuple(r) for r in sets[1].tolist()}


def test_regenerate_changes_training_only_from_the_second_epoch():
    cfg = small(N=16, batch=8, steps_per_epoch=2, epochs=2)
    regen = with_overrides(cfg, {"data.regenerate": True})
    a, b = train(cfg, [0, 1], max_steps=2), train(regen, [0, 1], max_steps=2)
    for p, q in zip(a.student.parameters(), b.student.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TOL)
    a, b = train(cfg, [0, 1]), train(regen, [0, 1])
    assert not torch.allclose(a.student.weights[0], b.student.weights[0])
    alone = train(regen, [1])  # a seed's regenerated sets do not depend on its batch
    torch.testing.assert_close(alone.student.weights[0], b.student.weights[0][1:], **TOL)


# --- invalid combinations ----------------------------------------------------------------------

@pytest.mark.parametrize("over,msg", [
    ({"student.bn_affine": True}, "student.bn_affine needs student.batchnorm=true"),
    ({"student.bn_before_relu": True}, "student.bn_before_relu needs student.batchnorm=true"),
    ({"teacher.bn_before_relu": True}, "teacher.bn_before_relu needs teacher.batchnorm=true"),
    ({"teacher.bias": "none", "teacher.bias_tuning": True}, "teacher.bias=none conflicts"),
    ({"student.frozen": "3"}, "student.frozen: layer 3 does not exist"),
    ({"student.frozen": "-4"}, "student.frozen: layer -4 does not exist"),
    ({"student.normalize": "rows"}, "is not one of none, fan_in, row_and_bias"),
    ({"student.leaky_slope": 1.5}, "student.leaky_slope must be in [0, 1]"),
    ({"N": "none", "data.regenerate": True}, "data.regenerate needs a finite data.train_size"),
    ({"c": 1, "loss": "cross_entropy"}, "cross_entropy needs teacher.output_dim >= 2"),
    ({"student.bias": "maybe"}, "'maybe' is not a bool"),
])
def test_invalid_flag_combinations_are_one_line_errors(over, msg):
    with pytest.raises(ConfigError) as err:
        small(**over)
    assert msg in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("args,msg", [
    (["--set", "student.bn_affine=true"], "student.bn_affine needs student.batchnorm=true"),
    (["--set", "student.frozen=0,7"], "student.frozen: layer 7 does not exist"),
    (["--set", "N=none", "--set", "data.regenerate=true"], "data.regenerate needs a finite"),
])
def test_cli_invalid_flag_combinations_exit_2(tmp_path, args, msg):
    from typer.testing import CliRunner

    from relulab.cli import app
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--out", str(out), "--no-progress", *args])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert msg in lines[0] and not out.exists()


def test_cli_trains_with_the_flags(tmp_path):
    from typer.testing import CliRunner

    from relulab.cli import app
    sets = ["student.batchnorm=true", "student.bn_before_relu=true", "student.bn_affine=true",
            "teacher.batchnorm=true", "student.normalize=row_and_bias", "student.frozen=0",
            "loss=cross_entropy", "data.regenerate=true", "N=64", "steps_per_epoch=4"]
    args = [a for s in sets for a in ("--set", s)]
    res = CliRunner().invoke(app, ["train", "--preset", "luck-fc-small", "--seeds", "2",
                                   "--epochs", "2", "--out", str(tmp_path / "r"),
                                   "--no-progress", *args])
    assert res.exit_code == 0, res.output
