"""Data sources and batch streams: passes, per-seed independence, the train/eval split."""

import pytest
import torch

from relulab import get_preset, with_overrides
from relulab.config import DataConfig
from relulab.data import FiniteStream, FreshStream, ReplacementStream, SyntheticSource, draw
from relulab.rng import SHARED_SEED
from relulab.rng import generator as rng_generator


def shuffles(seeds):
    return [rng_generator(0, s, "shuffle") for s in seeds]


@pytest.mark.parametrize("batch_size", [5, 4, 7])  # divides N, does not, larger than N/2
def test_finite_stream_visits_every_sample_once_per_pass(batch_size):
    """S=3 seeds, N=10 samples numbered per seed; over 6 passes every pass is a permutation
    of the seed's own samples, passes are reshuffled, and targets travel with their inputs."""
    n, s = 10, 3
    x = (torch.arange(s)[:, None] * 100 + torch.arange(n)).double()[..., None]  # (S, N, 1)
    stream = FiniteStream(x, batch_size, shuffles(range(s)), targets=2 * x + 1)
    seen_x, seen_y = [], []
    for _ in range(6 * n // batch_size):
        xb, yb = stream.next()
        assert xb.shape == (s, batch_size, 1)
        seen_x.append(xb)
        seen_y.append(yb)
    xs, ys = torch.cat(seen_x, 1)[..., 0], torch.cat(seen_y, 1)[..., 0]
    assert torch.equal(ys, 2 * xs + 1)
    whole = xs.shape[1] // n * n  # samples in complete passes (5 or 6 of them)
    passes = xs[:, :whole].reshape(s, -1, n)
    for seed in range(s):
        own = torch.arange(n).double() + 100 * seed
        for p in passes[seed]:
            assert torch.equal(p.sort().values, own)
        assert len({tuple(p.tolist()) for p in passes[seed]}) > 1  # reshuffled every pass


def test_finite_stream_seed_alone_equals_seed_in_batch(generator):
    x = torch.randn(3, 12, 2, generator=generator)
    batched = FiniteStream(x, 5, shuffles([0, 1, 2]))
    alone = FiniteStream(x[2:], 5, shuffles([2]))
    for _ in range(7):
        assert torch.equal(batched.next()[0][2:], alone.next()[0])


def test_fresh_stream_per_seed_independence():
    """Seed 2's batches do not depend on which seeds run beside it, and each member follows
    its own distribution (gaussian N(0, 3^2) vs uniform box of width 3)."""
    gauss, box = DataConfig(kind="gaussian", std=3.0), DataConfig(kind="uniform", std=3.0)
    trains = [rng_generator(0, s, "train") for s in (0, 1, 2)]
    batched = FreshStream([gauss, gauss, box], (4,), 8, trains, "cpu", chunk=3)
    alone = FreshStream([box], (4,), 8, [rng_generator(0, 2, "train")], "cpu", chunk=3)
    batches = [batched.next()[0] for _ in range(7)]  # crosses two chunk boundaries
    for xb in batches:
        assert torch.equal(xb[2:], alone.next()[0])
    xs = torch.cat(batches, 1)  # (3, 56, 4)
    assert not torch.equal(xs[0], xs[1])
    assert xs[2].abs().max() <= 1.5 and xs[0].abs().max() > 1.5
    assert batched.next()[1] is None  # no stored targets: the engine runs the teacher


def source(seeds, **over):
    cfg = with_overrides(get_preset("demo"), {"N": "64", "data.eval_size": "32", **over})
    return SyntheticSource.for_members([cfg] * len(seeds), seeds)


def test_synthetic_source_per_seed_sets():
    """Eval and train sets are drawn per seed from streams "eval" and "train", do not depend
    on the batch, and differ between seeds and between train and eval."""
    src, alone = source([0, 1, 2]), source([2])
    ev, tr = src.eval_inputs(), src.train_inputs()
    assert ev.shape == (3, 32, src.input_shape[0]) and tr.shape == (3, 64, src.input_shape[0])
    assert torch.equal(ev[2:], alone.eval_inputs())
    assert torch.equal(tr[2:], alone.train_inputs())
    assert not torch.equal(ev[0], ev[1])
    assert not torch.equal(tr[0, :32], ev[0])
    std = src.cfgs[0].std
    expected = draw("gaussian", std, (32, src.input_shape[0]),
                    generator=rng_generator(0, 1, "eval"), dtype=ev.dtype)
    assert torch.equal(ev[1], expected)


def test_synthetic_source_shared_teacher_shares_the_sets():
    src = source([0, 1], shared_teacher="true")
    assert src.data_seeds == [SHARED_SEED, SHARED_SEED]
    ev = src.eval_inputs()
    assert torch.equal(ev[0], ev[1])


def test_synthetic_source_members_of_one_seed_share_their_sets():
    """Members of one seed in cells that differ in the teacher only (a sweep's p) get the
    sets each would draw alone, bit for bit; a member of another distribution draws its own."""
    base = with_overrides(get_preset("demo"), {"N": "64", "data.eval_size": "32"})
    cfgs = [with_overrides(base, {"p": p}) for p in (0.0, 1.0, 0.0, 1.0)]
    cfgs.append(with_overrides(base, {"data.std": 3.0}))
    seeds = [0, 0, 1, 1, 0]
    src = SyntheticSource.for_members(cfgs, seeds, "cpu")
    tr, ev = src.train_inputs(), src.eval_inputs()
    for i, (cfg, seed) in enumerate(zip(cfgs, seeds, strict=True)):
        alone = SyntheticSource.for_members([cfg], [seed], "cpu")
        assert torch.equal(tr[i], alone.train_inputs()[0])
        assert torch.equal(ev[i], alone.eval_inputs()[0])
    assert torch.equal(tr[0], tr[1]) and not torch.equal(tr[0], tr[2])
    assert not torch.equal(tr[0], tr[4])


def test_draw_same_data_in_both_precisions():
    x32 = draw("uniform", 2.0, (100, 3), generator=rng_generator(0, 0, "train"))
    x64 = draw("uniform", 2.0, (100, 3), generator=rng_generator(0, 0, "train"),
               dtype=torch.float64)
    assert x64.dtype == torch.float64 and torch.equal(x64, x32.double())


def _stream(kind, s=3, n=10, b=4):
    x = torch.randn(s, n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cls = FiniteStream if kind == "finite" else ReplacementStream
    extra = {"chunk": 3} if kind == "replacement" else {}
    return cls(x, b, shuffles(range(s)), targets=x.sum(-1, keepdim=True), **extra)


@pytest.mark.parametrize("kind", ["finite", "replacement"])
@pytest.mark.parametrize("k", [0, 2, 3, 5])  # before any draw, inside / at the end of a chunk
def test_stream_state_round_trip_continues_bit_identically(kind, k):
    """Draw k batches, save, draw 9 more (wrapping passes / chunks); a fresh stream (other
    generator states) loaded with the state draws the same 9 batches."""
    stream = _stream(kind)
    for _ in range(k):
        stream.next()
    state = stream.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    expected = [stream.next() for _ in range(9)]
    fresh = _stream(kind)
    fresh.next()  # its generators and position differ from the saved ones
    fresh.load_state_dict(state)
    for (xe, ye), (xf, yf) in zip(expected, (fresh.next() for _ in range(9)), strict=True):
        assert torch.equal(xe, xf) and torch.equal(ye, yf)


@pytest.mark.parametrize("kind", ["finite", "replacement"])
def test_stream_state_of_another_shape_is_refused(kind):
    with pytest.raises(ValueError):
        _stream(kind, s=2).load_state_dict(_stream(kind, s=3).state_dict())


def test_finite_stream_batches_are_slices_of_each_pass_permutation():
    """Hand-written reference: pass p of seed s is x[s, randperm_p] from the seed's own
    generator; batches of 4 over N=10 wrap across passes."""
    s, n, b = 2, 10, 4
    x = torch.randn(s, n, 3, generator=torch.Generator().manual_seed(2))
    stream = FiniteStream(x, b, shuffles(range(s)))
    got = torch.cat([stream.next()[0] for _ in range(5)], 1)  # 20 samples = 2 passes
    ref_gens = shuffles(range(s))
    ref = torch.stack([torch.cat([x[i, torch.randperm(n, generator=ref_gens[i])]
                                  for _ in range(2)]) for i in range(s)])
    assert torch.equal(got, ref)
