"""``relulab theory ...`` commands (filled in by the theory issue)."""

from __future__ import annotations

import typer

theory_app = typer.Typer(no_args_is_help=True, help="Closed forms, ODEs and checks of the theory.")
