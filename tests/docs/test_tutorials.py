"""Every tutorial page runs (tests/docs/tutorial_runner.py): its python and bash blocks, at the
size written on the page, in a fresh folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from tutorial_runner import TutorialError, bash_commands, blocks, run_tutorial, to_script

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"
PAGES = sorted(p for p in TUTORIALS.glob("*.md") if p.name != "index.md")


def test_there_are_four_tutorials_and_each_runs_something():
    assert [p.stem for p in PAGES] == ["luck-matters", "python-api", "specialization", "theory"]
    for page in PAGES:
        langs = [lang for lang, _ in blocks(page.read_text())]
        assert "python" in langs, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_tutorial_runs(page, tmp_path):
    res = run_tutorial(page, tmp_path)
    assert res.returncode == 0, f"{page.name}:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"


def test_runner_reads_fences_and_refuses_other_shell_commands():
    page = ("intro\n```bash\nrelulab presets  # list\nrelulab train \\\n  --seeds 2\n```\n"
            "```text\nrm -rf /\n```\n```python\nx = 1\n```\n")
    assert [lang for lang, _ in blocks(page)] == ["bash", "text", "python"]
    script = to_script(page)
    assert "_relulab(['presets'])" in script and "_relulab(['train', '--seeds', '2'])" in script
    assert "rm -rf" not in script and "x = 1" in script
    with pytest.raises(TutorialError):
        bash_commands("python scripts/x.py")


def test_a_failing_block_fails_the_tutorial(tmp_path):
    page = tmp_path / "bad.md"
    page.write_text("```bash\nrelulab train --preset nope\n```\n")
    res = run_tutorial(page, tmp_path)
    assert res.returncode != 0 and "unknown preset" in res.stdout
    page.write_text("```python\nassert 1 == 2\n```\n")
    assert run_tutorial(page, tmp_path).returncode != 0
