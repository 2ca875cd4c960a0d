"""``relulab train --preset real-*``: real-data teacher -> student runs (relulab.real)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from relulab.cli.common import console, resolve_device
from relulab.cli.runs import print_run_table, save_run
from relulab.config import ConfigError, parse_set_args
from relulab.results.store import check_writable, write_json


def _teacher_table(res) -> Table:  # noqa: ANN001 - relulab.real.RealResult (imported lazily)
    table = Table(title="teachers (test accuracy; BN: share of negative BN biases, trained)")
    for col in ("seed", "trained", "pruned", "fine-tuned", "widths", "BN neg.", "source"):
        table.add_column(col, justify="right")
    for t in res.teachers:
        bn = "-" if t.bn_negative_fraction is None else f"{t.bn_negative_fraction:.3f}"
        table.add_row(str(t.seed), f"{t.accuracy_trained:.4f}", f"{t.accuracy_pruned:.4f}",
                      f"{t.accuracy:.4f}", "-".join(map(str, t.widths)), bn,
                      "cache" if t.cached else "trained")
    return table


def _recovery_table(rates) -> Table:  # noqa: ANN001 - {layer: (m_l,) tensor}
    """Per layer, the success (recovery, corr > 0.95) rate over seeds, averaged over the
    layer's teacher nodes, and the nodes recovered in every seed."""
    table = Table(title="recovered teacher nodes (some student corr > 0.95) at the end")
    for col in ("layer", "mean rate", "nodes in all seeds", "nodes"):
        table.add_column(col, justify="right")
    for layer, rate in rates.items():
        table.add_row(str(layer), f"{float(rate.mean()):.3f}", str(int((rate == 1).sum())),
                      str(rate.numel()))
    return table


def _overrides(items: list[str], epochs: int | None, stats_every: int | None
               ) -> dict[str, str]:
    """``--set`` items (``real.<field>=v`` for the teacher, the rest for the student run)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"--set '{item}' is not key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    parse_set_args([f"{k}={v}" for k, v in out.items() if not k.startswith("real.")])
    if epochs is not None:
        out["optim.epochs"] = str(epochs)
    if stats_every is not None:
        out["stats_every"] = str(stats_every)
    return out


def train_real(preset: str, seeds: int, epochs: int | None, steps: int | None, device: str,
               out: Path | None, set_: list[str], progress: bool, stats_every: int | None,
               data_root: Path | None) -> None:
    """Train teachers on the preset's data set (cached under ``out/teachers``), then students;
    print teachers, losses and the per-layer rho-bar; write the run under ``out``."""
    from relulab.real import get_real_preset, run_real, with_real_overrides

    cfg = with_real_overrides(get_real_preset(preset), _overrides(set_, epochs, stats_every))
    if seeds < 1:
        raise ConfigError(f"--seeds must be positive, got {seeds}")
    if steps is not None and steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {steps}")
    dev = resolve_device(device)
    if out is not None:
        check_writable(out)
    cache = None if out is None else out / "teachers"  # created when a teacher is written
    res = run_real(cfg, list(range(seeds)), data_root=data_root, device=dev, cache=cache,
                   progress=progress, max_steps=steps)
    console.print(_teacher_table(res))
    result = res.result
    print_run_table(result, f"{preset}: student {result.steps} steps on {dev} "
                            f"in {result.seconds:.1f}s")
    res.recorder.print_summary(console)
    console.print(_recovery_table(res.recorder.recovery_rates()))
    if out is not None:
        save_run(result, out, res.recorder.tables()["layers"], preset=preset)
        manifest = json.loads((out / "manifest.json").read_text())
        write_json(out / "manifest.json", {**manifest, "preset": preset, **res.manifest_extra()})
        write_json(out / "real_config.json", res.cfg.to_dict())
        console.print(f"run written to {out}")
