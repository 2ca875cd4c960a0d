"""The results layer runs without torch: a figure or a report can be redrawn from a results
folder on a machine without it. Checked in a fresh interpreter (this one has torch loaded)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import relulab

# torch-free layers: basics, storage, and the readers of a results folder
TORCH_FREE = ("relulab", "relulab.config", "relulab.config.ids", "relulab.config.grid",
              "relulab.results", "relulab.results.schema", "relulab.results.store",
              "relulab.results.query", "relulab.plots", "relulab.report", "relulab.report.fidelity")


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    loaded = imported_after(f"import {module}")
    assert module in loaded  # the check itself works: the module was imported
    assert not {m for m in loaded if m == "torch" or m.startswith("torch.")}


def test_plots_and_report_leave_torch_and_scipy_out():
    loaded = imported_after("import relulab.plots, relulab.report")
    assert "torch" not in loaded and "scipy" not in loaded and "matplotlib" not in loaded


def test_public_api_is_lazy_and_complete():
    assert "torch" not in imported_after("import relulab; relulab.get_preset")
    assert "torch" in imported_after("import relulab; relulab.train")
    for name in relulab.__all__:
        assert getattr(relulab, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = relulab.nope
