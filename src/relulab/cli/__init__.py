"""The ``relulab`` command line: a thin typer layer over the Python API.

Only the CLI resolves devices and paths. Bad input prints one line and exits with code 2.
"""

from __future__ import annotations

import typer

from relulab.cli.bn_bias import register as register_bn_bias
from relulab.cli.common import console
from relulab.cli.sweep import register as register_sweep
from relulab.cli.theory import theory_app
from relulab.cli.train import register as register_train
from relulab.cli.validate import register as register_validate

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="relulab: teacher-student experiments with over-parameterized ReLU nets.")
register_train(app)
register_sweep(app)
register_validate(app)
register_bn_bias(app)
app.add_typer(theory_app, name="theory")

__all__ = ["app", "main", "console"]


def main() -> None:
    app()
