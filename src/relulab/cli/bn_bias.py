"""``relulab bn-bias``: the share of negative BatchNorm biases of a trained network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relulab.cli.common import console, user_errors
from relulab.config import ConfigError
from relulab.results.store import check_writable, write_json


@user_errors
def bn_bias_cmd(
    weights: Annotated[Path, typer.Option(
        help="state dict of a network with BatchNorm layers: .safetensors, or a .pth/.pt read "
             "with torch.load(weights_only=True) (e.g. torchvision's vgg16_bn-*.pth)")],
    figure: Annotated[Path | None, typer.Option(
        help="also draw the per-layer fractions to this .png/.svg")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="also write the counts and fractions as JSON")] = None,
) -> None:
    """Per BN layer and overall, the fraction of negative BN biases (beta): Luck Matters'
    evidence (pretrained VGG11/13/16/19-BN) that teacher nodes overlap little."""
    from relulab.experiments.bn_bias import bn_layers, load_state_dict, overall, report

    for path in (figure, json_out):
        if path is not None:
            check_writable(path.parent if str(path.parent) else Path("."))
    if figure is not None and figure.suffix.lower() not in (".png", ".svg"):
        raise ConfigError(f"--figure must end in .png or .svg, got '{figure.name}'")
    layers = bn_layers(load_state_dict(weights))
    table = Table(title=f"negative BN biases in {weights.name}")
    for col in ("layer", "BN layer", "biases", "negative", "fraction"):
        table.add_column(col, justify="right")
    for i, layer in enumerate([*layers, overall(layers)]):
        label = "all" if i == len(layers) else str(i + 1)
        table.add_row(label, layer.name, str(layer.count), str(layer.negative),
                      f"{layer.fraction:.3f}")
    console.print(table)
    rep = report(layers)
    if json_out is not None:
        write_json(json_out, {"weights": str(weights), **rep})
    if figure is not None:
        from relulab.plots.bn_bias import bn_bias_figure

        bn_bias_figure({weights.stem: rep}, figure)
        console.print(f"figure written to {figure}")


def register(app: typer.Typer) -> None:
    app.command(name="bn-bias")(bn_bias_cmd)
