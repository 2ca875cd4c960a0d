"""The README is a short front page whose examples run, and what the README and the docs say
agrees with the code: the extras, the presets' numbers, no history of the project's making.

- the README's ``python`` block and its ``bash`` block (``relulab`` commands) run here, at the
  size written (tests/docs/tutorial_runner.py);
- every number the CLI help or a page quotes for a preset (``d=20``, ``c = 20``,
  ``10x500 steps``, ...) equals the preset's config;
- the extras are stated once, in the same words, on every page that states them.
"""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest
from tutorial_runner import blocks, run_tutorial

from relulab.config.presets import PRESETS, get_preset
from relulab.experiments import DEMO_SWEEP

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]

EXTRAS = ("Extras: `dev` = pytest, pytest-timeout, hypothesis, ruff and scikit-learn (the test "
          "suite); `ray` = Ray, for `--executor ray`; `docs` = mkdocs, mkdocs-material and "
          "mkdocstrings (the docs site); `real` = scikit-learn, for the digits data set of the "
          "`real-*` presets.")
MAKE_INSTALL = '.[dev,ray,docs]'
HISTORY = re.compile(r"issue [0-9]|shared/|before this fix|this 2-core machine|PAPERS\.md", re.I)


def flat(text: str) -> str:
    return " ".join(text.split())


def readme_blocks(lang: str) -> list[str]:
    return [code for fence, code in blocks(README.read_text()) if fence == lang]


# --- the front page ------------------------------------------------------------------------

def test_readme_is_a_short_front_page_in_the_issue_order():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    order = ["![", "make demo", "make test", "```python", "```bash", "What it reproduces",
             "docs/reproductions.md"]
    at = [text.index(marker) for marker in order]
    assert at == sorted(at), dict(zip(order, at, strict=True))
    figure = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text).group(1)
    assert (ROOT / figure).is_file() and (ROOT / figure).stat().st_size < 200_000
    table = text[text.index("What it reproduces"):]
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 5 and all("docs/" in row for row in rows)


def test_readme_links_to_docs_pages_that_exist():
    for link in re.findall(r"\]\((docs/[^)#]+)", README.read_text()):
        assert (ROOT / link).is_file(), link


def _run_blocks(lang: str, tmp_path: Path):
    [code] = readme_blocks(lang)
    page = tmp_path / f"readme_{lang}.md"
    page.write_text(f"```{lang}\n{code}```\n")
    t0 = time.perf_counter()
    res = run_tutorial(page, tmp_path, timeout=120)
    assert res.returncode == 0, f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res, time.perf_counter() - t0


def test_readme_python_example_runs(tmp_path):
    res, _seconds = _run_blocks("python", tmp_path)
    assert "rho_greedy" in res.stdout and "recovered" in res.stdout
    assert list((tmp_path / "runs/mine/results").glob("batch-*.parquet"))


def test_readme_cli_example_runs(tmp_path):
    res, _seconds = _run_blocks("bash", tmp_path)
    assert (tmp_path / "runs/sweep/report.html").is_file()
    assert list((tmp_path / "runs/first/results").glob("batch-*.parquet"))


# --- what every page says ------------------------------------------------------------------

def test_no_page_tells_the_history_of_the_project_or_points_outside_it():
    hits = [f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
            for page in PAGES for n, line in enumerate(page.read_text().splitlines(), 1)
            if HISTORY.search(line)]
    assert not hits, "\n".join(hits)


def test_the_extras_are_stated_the_same_everywhere():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name, packages in extras.items():
        part = EXTRAS.split(f"`{name}` = ")[1].split(";")[0]
        for package in packages:
            assert re.split(r"[<>=\[]", package)[0] in part, (name, package)
    for page in (README, DOCS / "index.md", DOCS / "install.md"):
        assert EXTRAS in flat(page.read_text()), page.name
    assert f'pip install -e "{MAKE_INSTALL}"' in (ROOT / "Makefile").read_text()
    for page in PAGES:
        for found in re.findall(r"\.\[dev[^\]]*\]|relulab\[dev[^\]]*\]", page.read_text()):
            assert found.endswith("[dev,ray,docs]"), (page.name, found)


def test_every_page_that_left_the_readme_is_reachable_from_the_index():
    index = (DOCS / "index.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in ["install", "concepts", "running", "conventions", "reproductions", "theory",
                 "speed", "ray", "real-data", "schema", "cli", "architecture"]:
        assert f"]({page}.md" in index and f"{page}.md" in nav, page


# --- preset numbers ------------------------------------------------------------------------

NUM = r"(\d+(?:\.\d+)?)(?![\d.]|,\d)"  # a number, not the first of a list like 5,10
PATTERNS = {  # quoted form -> the config values it states
    rf"\bd\s*=\s*{NUM}": lambda c, v: [(c.teacher.input_dim, v[0])],
    rf"\bm\s*=\s*{NUM}": lambda c, v: [(c.teacher.widths, (v[0],))],
    rf"\bc\s*=\s*{NUM}": lambda c, v: [(c.teacher.output_dim, v[0])],
    rf"\bN\s*=\s*{NUM}": lambda c, v: [(c.data.train_size, v[0])],
    rf"\bmulti\s*=\s*{NUM}": lambda c, v: [(c.student.multi, v[0])],
    rf"(?:sigma|σ)\s*=\s*{NUM}": lambda c, v: [(c.data.std, v[0])],
    rf"\blr\s+{NUM}(?!\s*->)": lambda c, v: [(c.optim.lr, v[0])],
    rf"\bstudent\s+{NUM}x": lambda c, v: [(c.student.multi, v[0])],
    r"\b(\d+(?:-\d+)+)\s+x(\d+)\b": lambda c, v: [(c.teacher.widths, v[0]),
                                                  (c.student.multi, v[1])],
    r"\bteacher\s+(\d+(?:-\d+)+)": lambda c, v: [(c.teacher.widths, v[0])],
    rf"{NUM}\s*(?:epochs\s*)?[x×]\s*{NUM}\s*steps": lambda c, v: [
        (c.optim.epochs, v[0]), (c.optim.steps_per_epoch, v[1])],
    rf"{NUM} (?:epochs|passes) of {NUM}k": lambda c, v: [
        (c.optim.epochs, v[0]), (c.data.train_size, v[1] * 1000)],
    rf"{NUM} samples x {NUM} epochs": lambda c, v: [
        (c.data.train_size, v[0]), (c.optim.epochs, v[1])],
    rf"\blr {NUM}->{NUM} at epoch {NUM}": lambda c, v: [
        (c.optim.lr_schedule, ((0, v[0]), (v[2], v[1])))],
}


def _value(text: str):
    if "-" in text:
        return tuple(int(x) for x in text.split("-"))
    return float(text) if "." in text else int(text)


def quoted(text: str, cfg) -> list[tuple[str, object, object]]:
    """``(quote, config value, quoted value)`` for every preset number quoted in ``text``."""
    found = []
    for pattern, stated in PATTERNS.items():
        for match in re.finditer(pattern, text):
            values = [_value(g) for g in match.groups()]
            found += [(match.group(0), have, want) for have, want in stated(cfg, values)]
    return found


def check(text: str, cfg, where: str) -> int:
    quotes = quoted(text, cfg)
    wrong = [f"{where}: '{q}' but the preset has {have!r}" for q, have, want in quotes
             if have != want]
    assert not wrong, "\n".join(wrong)
    return len(quotes)


def test_the_quote_parser_reads_what_the_pages_write():
    cfg = get_preset("demo")
    assert {q for q, *_ in quoted("(d = 20, c = 20, N = 2000, 10 epochs × 500 steps)", cfg)} \
        == {"d = 20", "c = 20", "N = 2000", "10 epochs × 500 steps"}
    assert quoted("grid m=5,10 multi=1,5", cfg) == []
    with pytest.raises(AssertionError, match="c=10"):
        check("demo preset (d=20, c=10)", cfg, "help")


def test_preset_summaries_quote_their_config():
    checked = sum(check(p.summary, p.config, f"relulab presets: {name}")
                  for name, p in PRESETS.items())
    assert checked >= 25


def test_demo_help_quotes_the_demo_sweep_and_preset():
    from typer.testing import CliRunner

    from relulab.cli import app

    res = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    assert flat(DEMO_SWEEP.summary) in flat(res.output)
    preset_part = DEMO_SWEEP.summary.split(f"{DEMO_SWEEP.preset} preset")[1]
    assert check(preset_part, get_preset(DEMO_SWEEP.preset), "relulab demo --help") >= 2
    grid = DEMO_SWEEP.summary.split(":")[1].split(f", {DEMO_SWEEP.seeds} seeds")[0]
    assert [g.strip() for g in grid.split(" x ")] == list(DEMO_SWEEP.grid)


def test_pages_quote_preset_numbers_as_the_presets_have_them():
    """``NAME` preset (...)``, ```NAME` (...)`` and the README's ``get_preset("NAME") # ...``."""
    checked = 0
    for page in PAGES:
        text = flat(page.read_text())
        for name in PRESETS:
            n = re.escape(name)
            for match in re.finditer(rf"`{n}`(?: preset)? \(([^()]*(?:\([^()]*\)[^()]*)*)\)",
                                     text):
                checked += check(match.group(1), PRESETS[name].config, f"{page.name}: {name}")
        for line in page.read_text().splitlines():
            if (m := re.search(r'get_preset\("([\w-]+)"\).*#(.*)', line)):
                checked += check(m.group(2), get_preset(m.group(1)), f"{page.name}: {line}")
    assert checked >= 8
