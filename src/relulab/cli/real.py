"""``relulab train --preset real-*``: real-data teacher -> student runs (relulab.real)."""

from __future__ import annotations

import json
from pathlib import Path

from relulab.cli.common import resolve_device
from relulab.cli.output import emit_table, note, print_rho_summary
from relulab.cli.runs import print_run_table, save_run
from relulab.config import ConfigError, parse_set_args
from relulab.results.store import check_writable, write_json


def _teacher_table(res, fmt: str) -> None:  # noqa: ANN001 - relulab.real.RealResult
    emit_table(["seed", "trained", "pruned", "fine-tuned", "widths", "BN neg.", "source"],
               [[t.seed, t.accuracy_trained, t.accuracy_pruned, t.accuracy,
                 "-".join(map(str, t.widths)), t.bn_negative_fraction,
                 "cache" if t.cached else "trained"] for t in res.teachers],
               "teachers (test accuracy; BN: share of negative BN biases, trained)", fmt,
               floatfmt=".4f")


def _recovery_table(rates, fmt: str) -> None:  # noqa: ANN001 - {layer: (m_l,) tensor}
    """Per layer, the success (recovery, corr > 0.95) rate over seeds, averaged over the
    layer's teacher nodes, and the nodes recovered in every seed."""
    emit_table(["layer", "mean rate", "nodes in all seeds", "nodes"],
               [[layer, float(rate.mean()), int((rate == 1).sum()), rate.numel()]
                for layer, rate in rates.items()],
               "recovered teacher nodes (some student corr > 0.95) at the end", fmt,
               floatfmt=".3f")


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


def train_real(preset: str, seeds: tuple[int, ...], epochs: int | None, steps: int | None,
               device: str, out: Path | None, set_: list[str], progress: bool,
               stats_every: int | None, data_root: Path | None, fmt: str = "auto"
               ) -> None:
    """Train teachers on the preset's data set (cached under ``out/teachers``), then students;
    print teachers, losses and the per-layer rho-bar; write the run under ``out`` (a rerun
    into the same ``out`` reuses the cached teachers and writes the run again)."""
    from relulab.real import get_real_preset, run_real, with_real_overrides

    cfg = with_real_overrides(get_real_preset(preset), _overrides(set_, epochs, stats_every))
    if steps is not None and steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {steps}")
    dev = resolve_device(device)
    if out is not None:
        check_writable(out)
    cache = None if out is None else out / "teachers"  # created when a teacher is written
    res = run_real(cfg, list(seeds), data_root=data_root, device=dev, cache=cache,
                   progress=progress, max_steps=steps)
    _teacher_table(res, fmt)
    result = res.result
    print_run_table(result, f"{preset}: student {result.steps} steps on {dev} "
                            f"in {result.seconds:.1f}s", fmt)
    print_rho_summary(res.recorder.summary(), fmt)
    _recovery_table(res.recorder.recovery_rates(), fmt)
    if out is not None:
        save_run(result, out, res.recorder.tables()["layers"], preset=preset)
        manifest = json.loads((out / "manifest.json").read_text())
        write_json(out / "manifest.json", {**manifest, "preset": preset, **res.manifest_extra()})
        write_json(out / "real_config.json", res.cfg.to_dict())
        note(f"run written to {out}", fmt)
