"""Grid parsing, cell names and batch planning (no training)."""

from __future__ import annotations

import pytest

from relulab.config import ConfigError, group_key, with_overrides
from relulab.config.grid import (
    BASE_CELL,
    SweepSpec,
    canonical_key,
    cell_name,
    format_value,
    parse_grid,
    plan_batches,
)
from relulab.config.presets import get_preset


def spec(grid: list[str], seeds: int = 2, preset: str = "spec-two-layer") -> SweepSpec:
    return SweepSpec(preset, get_preset(preset), parse_grid(grid), tuple(range(seeds)))


def test_paper_grid_expands_to_72_named_cells():
    cells = spec(["m=5,10,20", "multi=1,2,5,10", "p=0,0.5,1,1.5,2,2.5"]).cells()
    assert len(cells) == 72
    names = [c.name for c in cells]
    assert len(set(names)) == 72
    assert "m=10,multi=5,p=1.5" in names
    cell = cells[names.index("m=10,multi=5,p=1.5")]
    assert cell.config.teacher.widths == (10,)
    assert cell.config.student.multi == 5
    assert cell.config.teacher.fan_out_decay == 1.5
    assert cell.config.student_widths == (50,)
    assert cell.point_dict() == {"m": [10], "multi": 5, "p": 1.5}


def test_names_do_not_depend_on_spelling_or_order():
    a = spec(["p=0,1.0", "teacher.widths=5", "student.multi=2"]).cells()
    b = spec(["multi=2", "widths=5", "teacher.fan_out_decay=0.0,1"]).cells()
    assert [c.name for c in a] == ["m=5,multi=2,p=0", "m=5,multi=2,p=1"]
    assert sorted(c.name for c in a) == sorted(c.name for c in b)
    assert {c.name: c.config_hash for c in a} == {c.name: c.config_hash for c in b}


def test_no_grid_is_one_base_cell():
    cells = spec([]).cells()
    assert [c.name for c in cells] == [BASE_CELL]
    assert cells[0].config == get_preset("spec-two-layer")


def test_list_values_use_slash_and_canonical_keys():
    grid = parse_grid(["widths=10/15,20/25", "optim.lr_schedule=0:0.2/20:0.1"])
    assert grid.axes[0] == ("m", ((10, 15), (20, 25)))
    assert grid.axes[1] == ("optim.lr_schedule", (((0, 0.2), (20, 0.1)),))
    assert format_value((10, 15)) == "10/15"
    assert format_value(((0, 0.2), (20, 0.1))) == "0:0.2/20:0.1"
    assert cell_name({"m": (10, 15), "lr": 0.05, "batchnorm": True}) == \
        "batchnorm=true,lr=0.05,m=10/15"
    assert canonical_key("data.std") == "sigma" and canonical_key("data_std") == "sigma"


@pytest.mark.parametrize("item, message", [
    ("foo=1,2", "unknown config key 'foo'"),
    ("teacher.nope=1", "unknown config key"),
    ("m=", "empty list"),
    ("m=,", "empty list"),
    ("m=5,,10", "empty value"),
    ("multi=two", "not an integer"),
    ("p=1,x", "not a number"),
    ("p=1,1.0", "repeated value"),
    ("=1", "is not key="),
    ("m", "is not key="),
])
def test_malformed_grid_is_a_config_error(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([item])


def test_repeated_key_and_set_conflicts_and_invalid_points():
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["m=5", "widths=10"])
    with pytest.raises(ConfigError, match="both in --set and --grid"):
        SweepSpec("demo", get_preset("demo"), parse_grid(["p=0,1"]), (0,),
                  (("teacher.fan_out_decay", "2"),))
    with pytest.raises(ConfigError, match="grid point m=0: .*positive"):
        spec(["m=5,0"]).cells()
    with pytest.raises(ConfigError, match="at least one seed"):
        SweepSpec("demo", get_preset("demo"), parse_grid([]), ())


def test_plan_groups_by_shape_caps_batches_and_skips_finished():
    s = spec(["m=5,10", "p=0,1,2"], seeds=5)
    cells = s.cells()
    batches = plan_batches(cells, s.seeds, max_members=4)
    members = [(b.cells[i].name, seed) for b in batches for i, seed in b.members]
    assert sorted(members) == sorted((c.name, seed) for c in cells for seed in s.seeds)
    assert len(members) == len(set(members)) == 30
    for b in batches:
        assert b.size <= 4
        assert len({group_key(c.config) for c in b.cells}) == 1
    # 3 p-cells of one m share a group of 15 members -> 4 batches per m
    assert len(batches) == 8
    assert any(len({b.cells[i].name for i, _ in b.members}) > 1 for b in batches)

    finished = set(members[:7])
    rest = plan_batches(cells, s.seeds, finished, max_members=4)
    rest_members = [(b.cells[i].name, seed) for b in rest for i, seed in b.members]
    assert sorted(rest_members) == sorted(set(members) - finished)
    with pytest.raises(ConfigError, match="max-members"):
        plan_batches(cells, s.seeds, max_members=0)


def test_batch_id_is_stable_and_depends_on_members_and_config():
    s = spec(["p=0,1"], seeds=3)
    a = plan_batches(s.cells(), s.seeds)
    b = plan_batches(spec(["p=0,1"], seeds=3).cells(), s.seeds)
    assert [x.batch_id for x in a] == [x.batch_id for x in b]
    fewer = plan_batches(s.cells(), s.seeds[:2])
    assert fewer[0].batch_id != a[0].batch_id
    other = SweepSpec("spec-two-layer", with_overrides(get_preset("spec-two-layer"),
                                                       {"lr": 0.02}), parse_grid(["p=0,1"]),
                      s.seeds)
    assert plan_batches(other.cells(), s.seeds)[0].batch_id != a[0].batch_id
