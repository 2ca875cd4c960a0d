"""The ``relulab`` command line: a thin typer layer over the Python API.

Only the CLI resolves devices and paths. Bad input prints one line and exits with code 2.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # recent typer vendors click; older ones use click itself
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover
    from click import exceptions as cx  # type: ignore[no-redef]

from relulab.cli.bn_bias import register as register_bn_bias
from relulab.cli.common import console
from relulab.cli.experiment import register as register_experiment
from relulab.cli.overlay import register as register_overlay
from relulab.cli.presets import register as register_presets
from relulab.cli.sweep import register as register_sweep
from relulab.cli.theory import theory_app
from relulab.cli.train import register as register_train
from relulab.cli.validate import register as register_validate


class OneLineErrors(TyperGroup):
    """Usage errors (a bad option value, an unknown option or command) print one line,
    ``error: ...``, and exit 2, like every other bad input; help is shown as usual."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except cx.NoArgsIsHelpError as exc:
            print(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(2)
        except cx.UsageError as exc:
            where = f"{exc.ctx.command_path}: " if exc.ctx else ""
            message = " ".join(exc.format_message().split())
            print(f"error: {where}{message}", file=sys.stderr)
            sys.exit(2)
        except typer.Abort:
            print("error: aborted", file=sys.stderr)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=OneLineErrors,
                  help="relulab: teacher-student experiments with over-parameterized ReLU nets.")
register_train(app)
register_presets(app)
register_sweep(app)
register_validate(app)
register_overlay(theory_app)
register_experiment(app)
register_bn_bias(app)
app.add_typer(theory_app, name="theory")

__all__ = ["app", "main", "console"]


def main() -> None:
    app()
