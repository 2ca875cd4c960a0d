"""``relulab train`` and ``relulab presets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relulab.cli.common import console, fail, resolve_device, user_errors
from relulab.cli.runs import print_run_table, save_run
from relulab.config import ConfigError, RunConfig, parse_set_args, with_overrides
from relulab.config.presets import PRESETS, get_preset
from relulab.real.config import REAL_PRESETS
from relulab.results.store import check_writable, ensure_dir
from relulab.training.engine import train
from relulab.training.recorder import StatsRecorder

CHECKPOINT = "checkpoint.safetensors"


@user_errors
def train_cmd(
    preset: Annotated[str, typer.Option("--preset", "-p", help="preset name")] = "demo",
    seeds: Annotated[int, typer.Option(help="number of seeds S (0..S-1)")] = 4,
    epochs: Annotated[int | None, typer.Option(help="override epochs")] = None,
    steps: Annotated[int | None, typer.Option(help="total steps (instead of epochs)")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[Path | None, typer.Option(help="write the run under this folder")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override key=value (e.g. multi=5, optim.lr=0.05, the original's flags: "
                 "student.frozen=-1, student.normalize=fan_in, loss=cross_entropy)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    stats_every: Annotated[int | None, typer.Option(
        help="statistics cadence in epochs, plus init and end (0 = only those; "
             "default: the config's stats_every)")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the interrupted run in --out from its checkpoint (same "
                         "preset, --set, --seeds and --steps)")] = False,
    data_root: Annotated[Path | None, typer.Option(
        help="real-cifar10-* presets: folder holding cifar-10-batches-bin/")] = None,
) -> None:
    """Train S students against the preset's teachers; print a per-seed summary.

    With --out, a checkpoint is written at every statistics point (every epoch when
    stats_every is 0); Ctrl-C or SIGTERM stops at the next step, writes one and exits 130;
    --resume continues it bit-identically. real-* presets first train (and cache under
    OUT/teachers) a teacher on a real data set."""
    if preset in REAL_PRESETS:
        from relulab.cli.real import train_real

        if resume:
            raise ConfigError("--resume is not available for real-* presets (their teachers "
                              "are cached: rerun the command)")
        return train_real(preset, seeds, epochs, steps, device, out, set_ or [], progress,
                          stats_every, data_root)
    cfg = _config(preset, set_ or [], epochs, stats_every, seeds, steps)
    dev = resolve_device(device)
    recorder = StatsRecorder()
    run_info = {"config_hash": cfg.hash(), "seeds": list(range(seeds)), "max_steps": steps}
    state = _resume_state(out, resume, run_info, recorder)
    if state == "finished":
        return console.print(f"the run in {out} has already finished; nothing to resume")
    from relulab.interrupts import EXIT_INTERRUPTED, StopRequest
    from relulab.training.engine import Interrupted

    with StopRequest() as stop:
        try:
            result = train(cfg, range(seeds), device=dev, progress=progress, max_steps=steps,
                           callbacks=[recorder], resume=state, stop=stop,
                           checkpoint=_checkpointer(out, run_info, recorder, cfg))
        except Interrupted as stopped:
            where = (f"checkpoint in {out}; continue with the same command and --resume"
                     if out is not None else "no --out, nothing saved")
            console.print(f"interrupted after step {stopped.state.step} ({where})")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    print_run_table(result, f"{preset}: {result.steps} steps on {dev} in {result.seconds:.1f}s")
    recorder.print_summary(console)
    if out is not None:
        save_run(result, out, recorder.tables()["layers"], preset=preset,
                 overrides=parse_set_args(set_ or []))
        (out / CHECKPOINT).unlink(missing_ok=True)
        console.print(f"run written to {out}")


def _config(preset: str, set_: list[str], epochs: int | None, stats_every: int | None,
            seeds: int, steps: int | None) -> RunConfig:
    """The preset with ``--set``, ``--epochs`` and ``--stats-every`` applied, validated."""
    overrides: dict[str, object] = dict(parse_set_args(set_))
    if epochs is not None:
        overrides["optim.epochs"] = str(epochs)
    if stats_every is not None:
        overrides["stats_every"] = str(stats_every)
    cfg = with_overrides(get_preset(preset), overrides)
    if seeds < 1:
        raise ConfigError(f"--seeds must be positive, got {seeds}")
    if steps is not None and steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {steps}")
    return cfg


def _checkpointer(out: Path | None, info: dict, recorder: StatsRecorder, cfg: RunConfig):
    """The engine's checkpoint callback for ``out`` (None without ``--out``)."""
    if out is None:
        return None
    from relulab.training import checkpoint

    def save(state: checkpoint.TrainState) -> None:
        tensors, meta = recorder.state_dict()
        state.put("cb", tensors)
        state.meta["recorder"] = meta
        ensure_dir(out)
        checkpoint.save(out / CHECKPOINT, state, {**info, "config": cfg.to_dict()})

    return save


def _resume_state(out: Path | None, resume: bool, info: dict, recorder: StatsRecorder):
    """The checkpoint to continue (``--resume``), after checking it belongs to this run;
    ``"finished"`` when the run already completed; None for a new run."""
    from relulab.training import checkpoint

    if out is None:
        if resume:
            raise ConfigError("--resume needs --out (the folder of the interrupted run)")
        return None
    check_writable(out)  # fail before training, not after it
    path = out / CHECKPOINT
    if not resume:
        if path.exists():
            raise ConfigError(f"'{out}' holds an unfinished run ({CHECKPOINT}); pass --resume "
                              "to continue it or choose another --out")
        return None
    if not path.exists():
        if (out / "manifest.json").exists():
            return "finished"
        raise ConfigError(f"nothing to resume: no {CHECKPOINT} in '{out}'")
    try:
        state, saved = checkpoint.load(path)
    except checkpoint.CheckpointError as exc:
        raise fail(str(exc)) from None
    for key in ("config_hash", "seeds", "max_steps"):
        if saved.get(key) != info[key]:
            raise ConfigError(f"the checkpoint in '{out}' is of another run ({key} "
                              f"{saved.get(key)} != {info[key]}); use the same --preset, "
                              "--set, --seeds and --steps")
    recorder.load_state_dict(state.sub("cb"), state.meta.get("recorder", {}))
    return state


def presets() -> None:
    """List the presets, one line each."""
    for p in PRESETS.values():
        typer.echo(f"{p.name:16s} {p.summary}")
    for name, (summary, _) in REAL_PRESETS.items():
        typer.echo(f"{name:16s} {summary}")


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)
    app.command()(presets)
