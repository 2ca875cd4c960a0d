"""Turn a tutorial page (Markdown) into one Python script and run it in a fresh folder.

- ```python blocks are copied in order (one process: later blocks see earlier names);
- ```bash blocks: every line (``\\`` continuations joined, ``#`` comments dropped) must be a
  ``relulab ...`` command; it runs in the same process through typer's test runner and must
  exit 0 (its output is printed);
- other fences (```text, ...) are shown on the page and not run.

The script runs as a subprocess (``python script.py``), so nothing is evaluated in the test
process and a tutorial cannot leak state into another one.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
PREAMBLE = '''\
def _relulab(args):
    from typer.testing import CliRunner as _CliRunner
    from relulab.cli import app as _app

    print("$ relulab " + " ".join(args), flush=True)
    _res = _CliRunner().invoke(_app, args)
    print(_res.output, flush=True)
    if _res.exit_code != 0:
        raise SystemExit(f"relulab {' '.join(args)} exited with {_res.exit_code}")

'''


class TutorialError(ValueError):
    """A tutorial block the runner cannot run."""


def blocks(markdown: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(markdown)]


def bash_commands(code: str) -> list[list[str]]:
    """The ``relulab`` commands of a bash block as argument lists (without ``relulab``)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        args = shlex.split(line, comments=True)
        if not args:
            continue
        if args[0] != "relulab":
            raise TutorialError(f"a bash block may only run relulab commands, got: {line!r}")
        commands.append(args[1:])
    return commands


def to_script(markdown: str) -> str:
    """The Python script that runs a page's ``python`` and ``bash`` blocks in order."""
    parts = [PREAMBLE]
    for lang, code in blocks(markdown):
        if lang == "python":
            parts.append(code)
        elif lang == "bash":
            parts += [f"_relulab({args!r})\n" for args in bash_commands(code)]
    return "\n".join(parts)


def run_tutorial(page: Path, workdir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Write the page's script into ``workdir`` and run it there (one intra-op thread)."""
    script = workdir / f"{page.stem}.py"
    script.write_text(to_script(page.read_text()))
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, script.name], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)
