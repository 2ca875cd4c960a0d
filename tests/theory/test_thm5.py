import pytest
import torch

from relulab.config import ConfigError
from relulab.theory.population import angle
from relulab.theory.thm5 import Thm5Config, luck_table, make_networks, run_thm5


def test_initialization_follows_the_original(generator):
    cfg = Thm5Config()
    teacher, student = make_networks(cfg, 2, generator=generator)
    assert teacher[0].shape == (2, 20, 11) and teacher[1].shape == (2, 30, 21)
    assert student[0].shape == (2, 40, 11) and student[1].shape == (2, 30, 41)
    for w in (*teacher, *student):  # every augmented fan-in row normalized
        torch.testing.assert_close(w.norm(dim=-1), torch.ones(w.shape[:-1], dtype=w.dtype))
    assert (teacher[0][..., -1] == 0).all()  # --bias 0
    # perturbed start: aligned rows close to their teacher, the rest unrelated
    assert angle(student[0][:, :20], teacher[0]).max() < 0.8


@pytest.mark.parametrize("update", ["matrix", "exact"])
def test_short_run_prunes_fan_out_of_unaligned_nodes(update, generator):
    cfg = Thm5Config(iters=300, record_every=100, update=update)
    res = run_thm5(cfg, n_seeds=2, generator=generator)
    assert res.angles.shape == (4, 2, 20) and res.fan_out.shape == (4, 2, 40)
    assert float(res.loss[-1].max()) < 0.5 * float(res.loss[0].min())
    assert float(res.irrelevant.mean()) < 0.75 * float(res.fan_out[0, :, 20:].mean())
    assert float(res.relevant.min()) > 3 * float(res.irrelevant.max()) or update == "exact"
    assert float(res.angles[-1].mean()) < float(res.angles[0].mean())
    rows, rho = luck_table(res, threshold=10.0)  # every node is "converged": all at step 0
    assert len(rows) == 40 and all(r.steps_to_threshold == 0 for r in rows)


def test_bad_config():
    with pytest.raises(ConfigError):
        Thm5Config(update="sgd")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Thm5Config(node_multi=0)
    with pytest.raises(ConfigError):
        Thm5Config(lr=0)
