"""``relulab train`` and ``relulab presets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relulab.cli.common import CONFIG_HELP, base_config, fail, resolve_device, user_errors
from relulab.cli.finished import check_finished, clear_run
from relulab.cli.output import FormatOpt, note, print_rho_summary, resolve_format
from relulab.cli.runs import print_run_table, save_run
from relulab.config import ConfigError, RunConfig, parse_set_args, with_overrides
from relulab.config.inputs import parse_seeds
from relulab.results.store import check_writable, ensure_dir
from relulab.training.engine import train
from relulab.training.recorder import StatsRecorder

CHECKPOINT = "checkpoint.safetensors"


SeedsOpt = Annotated[str, typer.Option(
    help="seeds: N (0..N-1), A:B (A..B-1) or a list 1,5,9")]


@user_errors
def train_cmd(
    preset: Annotated[str | None, typer.Option(
        "--preset", "-p", help="preset name (`relulab presets`; default: demo)")] = None,
    config: Annotated[Path | None, typer.Option(help=CONFIG_HELP)] = None,
    seeds: SeedsOpt = "4",
    epochs: Annotated[int | None, typer.Option(help="override epochs")] = None,
    steps: Annotated[int | None, typer.Option(help="total steps (instead of epochs)")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[Path | None, typer.Option(
        help="write the run under this folder (a finished synthetic run of the same config "
             "and seeds there: nothing to do; of another: refused unless --overwrite)")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="replace a finished run of another config in --out")] = False,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override key=value (e.g. multi=5, optim.lr=0.05, the original's flags: "
                 "student.frozen=-1, student.normalize=fan_in, loss=cross_entropy; "
                 "`relulab presets keys` lists them)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    stats_every: Annotated[int | None, typer.Option(
        help="statistics cadence in epochs, plus init and end (0 = only those; "
             "default: the config's stats_every)")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the interrupted run in --out from its checkpoint (same "
                         "preset, --set, --seeds and --steps)")] = False,
    data_root: Annotated[Path | None, typer.Option(
        help="real-cifar10-* presets: folder holding cifar-10-batches-bin/")] = None,
    fmt: FormatOpt = "auto",
) -> None:
    """Train one student per seed against that seed's teachers; print a per-seed table and
    the per-layer rho-bar summary.

    With --out, a checkpoint is written at every statistics point (every epoch when
    stats_every is 0); Ctrl-C or SIGTERM stops at the next step, writes one and exits 130;
    --resume continues it bit-identically. real-* presets first train (and cache under
    OUT/teachers) a teacher on a real data set."""
    entry, base, items = base_config(preset, config, set_)
    seed_list = parse_seeds(seeds)
    resolve_format(fmt)
    if entry.kind == "real":
        from relulab.cli.real import train_real

        if resume:
            raise ConfigError("--resume is not available for real-* presets (their teachers "
                              "are cached: rerun the command)")
        return train_real(entry.name, seed_list, epochs, steps, device, out, items, progress,
                          stats_every, data_root, fmt)
    assert base is not None
    cfg = _config(base, items, epochs, stats_every, steps)
    dev = resolve_device(device)
    recorder = StatsRecorder()
    run_info = {"config_hash": cfg.hash(), "seeds": list(seed_list), "max_steps": steps}
    expected = steps if steps is not None else cfg.optim.epochs * cfg.steps_per_epoch
    state = _resume_state(out, resume, run_info, recorder, expected, overwrite)
    if state == "finished":
        return note(f"the run in {out} has already finished; nothing to do", fmt)
    from relulab.interrupts import EXIT_INTERRUPTED, StopRequest
    from relulab.training.engine import Interrupted

    with StopRequest() as stop:
        try:
            result = train(cfg, seed_list, device=dev, progress=progress, max_steps=steps,
                           callbacks=[recorder], resume=state, stop=stop,
                           checkpoint=_checkpointer(out, run_info, recorder, cfg))
        except Interrupted as stopped:
            where = (f"checkpoint in {out}; continue with the same command and --resume"
                     if out is not None else "no --out, nothing saved")
            note(f"interrupted after step {stopped.state.step} ({where})", fmt)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    print_run_table(result, f"{entry.name}: {result.steps} steps on {dev} in "
                            f"{result.seconds:.1f}s", fmt)
    print_rho_summary(recorder.summary(), fmt)
    if out is not None:
        if overwrite:
            clear_run(out)
        save_run(result, out, recorder.tables()["layers"], preset=preset or "",
                 overrides=parse_set_args(set_ or []))
        (out / CHECKPOINT).unlink(missing_ok=True)
        note(f"run written to {out}", fmt)


def _config(base: RunConfig, set_: list[str], epochs: int | None, stats_every: int | None,
            steps: int | None) -> RunConfig:
    """``base`` with ``--set``, ``--epochs`` and ``--stats-every`` applied, validated."""
    overrides: dict[str, object] = dict(parse_set_args(set_))
    if epochs is not None:
        overrides["optim.epochs"] = str(epochs)
    if stats_every is not None:
        overrides["stats_every"] = str(stats_every)
    cfg = with_overrides(base, overrides)
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


def _resume_state(out: Path | None, resume: bool, info: dict, recorder: StatsRecorder,
                  steps: int, overwrite: bool):
    """The checkpoint to continue (``--resume``), after checking it belongs to this run;
    ``"finished"`` when this run already completed in ``out``; None for a new run."""
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
        if check_finished(out, info["config_hash"], info["seeds"], steps, overwrite):
            return "finished"
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


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)
