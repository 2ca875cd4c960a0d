"""``relulab theory ...`` commands: each prints a rich table and can write a figure.

Thin layer over :mod:`relulab.experiments`: parse and check the options (messages name the
flags), run one experiment, print its table. Every default comes from the experiment module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.table import Table

from relulab.cli.common import console, resolve_device, user_errors
from relulab.config import ConfigError, RunConfig
from relulab.experiments import convergence as conv
from relulab.experiments import rule_check as rc
from relulab.experiments import saddles as sad
from relulab.experiments import thm5 as t5
from relulab.rng import generator
from relulab.theory.symmetric import START_GRID, START_SPAN

theory_app = typer.Typer(no_args_is_help=True, help="Closed forms, ODEs and checks of the theory.")

FigureOpt = Annotated[Path | None, typer.Option("--figure", help="write a figure (.png or .svg)")]
SeedOpt = Annotated[int, typer.Option("--seed", help="root seed of the random streams")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda")]
ROOT_SEED = RunConfig.root_seed  # default --seed where no paper fixes one
DEVICE = "cpu"  # default --device: small float64 kernels, no GPU needed
T5, RC = t5.Thm5Config, rc.RuleCheckConfig  # their field defaults are the options' defaults


def _listed(values: Sequence[float]) -> str:
    """``(5, 20, 100)`` -> ``"5,20,100"``: a default in the syntax of :func:`parse_floats`."""
    return ",".join(f"{v:g}" for v in values)


MAX_DEPTH = 32  # rule-check's Theorem 1 nets: deeper ones only exhaust memory


def parse_ints(text: str, name: str, minimum: int) -> list[int]:
    """``"2..8"`` (inclusive range) or ``"5,20,100"`` -> list of ints >= ``minimum``."""
    text = text.strip()
    try:
        if ".." in text:
            lo, hi = text.split("..", 1)
            values = list(range(int(lo), int(hi) + 1))
        else:
            values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: '{text}' is not a list like 2..8 or 5,20,100") from None
    if not values:
        raise ConfigError(f"{name}: empty list '{text}'")
    bad = [v for v in values if v < minimum]
    if bad:
        raise ConfigError(f"{name} values must be >= {minimum}, got {bad[0]}")
    return values


def parse_floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: '{text}' is not a comma-separated list of numbers") from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ConfigError(f"{name} values must be positive numbers, got '{text}'")
    return values


def _check_figure(figure: Path | None) -> None:
    """Fail before the experiment runs when ``--figure`` cannot be written."""
    from relulab.plots.common import FIGURE_SUFFIXES

    if figure is None:
        return
    if figure.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(f"--figure must end in .png or .svg, got '{figure.name}'")
    if figure.parent != Path("") and not figure.parent.is_dir():
        raise ConfigError(f"--figure folder '{figure.parent}' does not exist")


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ConfigError(f"--{name} must be > 0, got {value}")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _draw(figure: Path | None, draw: Callable[[ModuleType, Path], Path]) -> None:
    """When ``--figure`` was given, write it with ``draw(relulab.plots.theory, path)``."""
    if figure is not None:
        from relulab.plots import theory as plots

        console.print(f"figure written to {draw(plots, figure)}")


@theory_app.command()
@user_errors
def saddles(
    ks: Annotated[str, typer.Option("--K", help="student counts, e.g. 2..8 or 3,6")] =
        f"{sad.K_VALUES[0]}..{sad.K_VALUES[-1]}",
    grid: Annotated[int, typer.Option(help="Newton starts per axis")] = START_GRID,
    span: Annotated[float, typer.Option(help="starts on [-span, span]^2")] = START_SPAN,
    figure: FigureOpt = None,
) -> None:
    """Critical points of the 2-D symmetric dynamics (W* = I_K), classified in full K·K space."""
    values = parse_ints(ks, "--K", 2)
    if grid < 2:
        raise ConfigError(f"--grid must be >= 2, got {grid}")
    _positive(span, "span")
    _check_figure(figure)
    found = sad.saddle_table(values, span=span, grid=grid)
    _table("Critical points of J on w_j = x e_j + y Σ_{k≠j} e_k (W* = I_K)",
           ("K", "x", "y", "J", "2-D (−,0,+)", "K·K (−,0,+)", "type", "note"),
           [(str(K), f"{r.point.x:+.6f}", f"{r.point.y:+.6f}", f"{r.loss:.6g}",
             str(r.point.reduced_signature), str(r.point.full_signature), r.point.kind, r.note)
            for K, rows in found.items() for r in rows])
    points = {K: [r.point for r in rows] for K, rows in found.items()}
    _draw(figure, lambda plots, path: plots.phase_portraits(points, path, span=span))


@theory_app.command()
@user_errors
def converge(
    d: Annotated[str, typer.Option("--d", help="input dimensions, e.g. 5,20,100")] =
        _listed(conv.DIMS),
    std: Annotated[str, typer.Option(help="init stds")] = _listed(conv.STDS),
    inits: Annotated[int, typer.Option(help="initial conditions per (d, std)")] = conv.N_INITS,
    t_max: Annotated[float, typer.Option(help="flow time")] = conv.T_MAX,
    seed: SeedOpt = ROOT_SEED,
    device: DeviceOpt = DEVICE,
    figure: FigureOpt = None,
) -> None:
    """Single ReLU (K = 1): fraction of random inits whose gradient flow reaches w*."""
    dims = parse_ints(d, "--d", 2)
    stds = parse_floats(std, "--std")
    if inits < 1:
        raise ConfigError(f"--inits must be >= 1, got {inits}")
    _positive(t_max, "t-max")
    _check_figure(figure)
    rows = conv.single_relu_convergence(dims, stds, n_inits=inits, t_max=t_max,
                                        generator=generator(seed, 0, conv.CONVERGE_STREAM),
                                        device=resolve_device(device))
    _table("Single ReLU: gradient flow from w0 ~ N(0, std² I) to w* (|w*| = 1)",
           ("d", "std", "n", "converged", "95% CI", "P(w0 ∈ Ω)", "(1−ε)/2"),
           [(str(r.d), f"{r.std:g}", str(r.n), f"{r.converged:.4f}",
             f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", f"{r.basin:.3g}", f"{r.bound:.3g}")
            for r in rows])
    _draw(figure, lambda plots, path: plots.convergence_figure(rows, path))


@theory_app.command()
@user_errors
def ssb(
    k_nodes: Annotated[int, typer.Option("--K", help="students = teachers = d")] = conv.SSB_K,
    trials: Annotated[int, typer.Option(help="noisy symmetric starts")] = conv.SSB_TRIALS,
    noise: Annotated[float, typer.Option(help="std of the symmetry-breaking noise")] =
        conv.SSB_NOISE,
    x0: Annotated[float, typer.Option(help="start: diagonal entry")] = conv.SSB_X0,
    y0: Annotated[float, typer.Option(help="start: off-diagonal entry (= x0: all equal)")] =
        conv.SSB_Y0,
    lr: Annotated[float, typer.Option(help="gradient-descent step")] = conv.SSB_LR,
    max_steps: Annotated[int, typer.Option(help="step budget")] = conv.SSB_MAX_STEPS,
    seed: SeedOpt = ROOT_SEED,
    device: DeviceOpt = DEVICE,
    figure: FigureOpt = None,
) -> None:
    """Spontaneous symmetry breaking: symmetric start + noise -> a permutation of W* = I_K?"""
    if k_nodes < 2:
        raise ConfigError(f"--K must be >= 2, got {k_nodes}")
    if trials < 1 or max_steps < 1:
        raise ConfigError("--trials and --max-steps must be >= 1")
    _positive(noise, "noise")
    _positive(lr, "lr")
    _check_figure(figure)
    res = conv.symmetry_breaking(k_nodes, n_trials=trials, noise=noise, x0=x0, y0=y0, lr=lr,
                                 max_steps=max_steps,
                                 generator=generator(seed, 0, conv.SSB_STREAM),
                                 device=resolve_device(device))
    summary = res.converged_steps()
    _table(f"SSB, K = {k_nodes}: start W({x0:g}, {y0:g}) + {noise:g}·N(0, 1)",
           ("trials", "to a permutation", "distinct perms", "steps median", "steps min–max",
            "worst final J", "start spread"),
           [(str(trials), f"{int(res.converged.sum())}/{trials}",
             str(res.distinct_permutations), f"{summary[0]:.0f}" if summary else "-",
             f"{summary[1]}–{summary[2]}" if summary else "-",
             f"{float(res.final_loss.max()):.3g}", f"{res.start_spread:.2g}")])
    _draw(figure, lambda plots, path: plots.ssb_figure(res, path))


def _thm5_tables(res: t5.Thm5Result, threshold: float) -> None:
    pairs = list(enumerate(zip(res.relevant, res.irrelevant, strict=True)))
    _table(f"Theorem 5 after {res.cfg.iters} steps ({res.cfg.update} update, {res.cfg.streams} "
           "streams): fan-out row norms",
           ("seed", "aligned min", "aligned max", "others median", "others max", "others > 0.01"),
           [(str(s), f"{float(rel.min()):.3g}", f"{float(rel.max()):.3g}",
             f"{float(irr.median()):.3g}", f"{float(irr.max()):.3g}",
             str(int((irr > 0.01).sum()))) for s, (rel, irr) in pairs])
    _table("Final losses: ½·mean Σ (y* − y)²; the original's ‖ReLU(Y*) − ReLU(Y)‖_F / N",
           ("seed", "½ mean (batch)", "‖·‖/N batch", f"‖·‖/N eval ({t5.EVAL_SIZE})"),
           [(str(s), f"{float(res.loss[-1, s]):.3g}", f"{float(res.loss_orig[-1, s]):.3g}",
             f"{float(res.eval_loss_orig[s]):.3g}") for s, _ in pairs])
    rows, rho = t5.luck_table(res, threshold)
    _table(f"Theorem 4 'luck': initial angle vs steps until angle < {threshold:g}"
           f" (Spearman ρ = {rho:.2f})",
           ("initial angle quartile", "nodes", "reached", "mean steps"),
           [(f"{q.angle_low:.3f}–{q.angle_high:.3f}", str(q.nodes), str(q.reached),
             "-" if q.mean_steps is None else f"{q.mean_steps:.0f}")
            for q in t5.luck_quartiles(rows)])


@theory_app.command()
@user_errors
def thm5(
    iters: Annotated[int, typer.Option(help="SGD steps (original: 20000)")] = T5.iters,
    seeds: Annotated[int, typer.Option(help="independent runs in one batch")] = t5.N_SEEDS,
    update: Annotated[str, typer.Option(help="matrix (consistent matrix form) | matrix_orig (as "
        "the original: bias node dropped from H) | exact (true expected gradient)")] = T5.update,
    node_multi: Annotated[int, typer.Option(help="student width / teacher width")] = T5.node_multi,
    lr: Annotated[float, typer.Option()] = T5.lr,
    init_std: Annotated[float, typer.Option(help="perturbation std")] = T5.init_std,
    batch_size: Annotated[int, typer.Option("--batchsize", help="minibatch")] = T5.batch_size,
    streams: Annotated[str, typer.Option(help="original (as the original script: one float32 "
        "torch stream from --seed for student and data, shared by all runs; default with "
        "matrix_orig) | independent (each run its own)")] = "auto",
    threshold: Annotated[float, typer.Option(help="angle (rad) counted as converged")] =
        t5.LUCK_THRESHOLD,
    seed: SeedOpt = t5.SEED,
    device: DeviceOpt = DEVICE,
    figure: FigureOpt = None,
) -> None:
    """Theorem 5 (fan-out of teacher-less nodes -> 0) and Theorem 4 (closer nodes converge
    faster), two-layer, student started near the teacher."""
    if streams == "auto":
        streams = "original" if update == "matrix_orig" else "independent"
    cfg = T5(node_multi=node_multi, lr=lr, init_std=init_std, batch_size=batch_size,
             iters=iters, update=update, streams=streams, seed=seed)  # type: ignore[arg-type]
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    _positive(threshold, "threshold")
    _check_figure(figure)
    res = t5.run_thm5(cfg, n_seeds=seeds, generator=generator(seed, 0, t5.STREAM),
                      device=resolve_device(device), dtype=t5.stream_dtype(cfg))
    _thm5_tables(res, threshold)
    _draw(figure, lambda plots, path: plots.thm5_figure(res, path, threshold))


@theory_app.command("rule-check")
@user_errors
def rule_check(
    depths: Annotated[str, typer.Option(help="hidden-layer counts for Theorem 1")] =
        _listed(RC.depths),
    width: Annotated[int, typer.Option(help="teacher hidden width (Theorem 1 nets)")] = RC.width,
    multi: Annotated[int, typer.Option(help="student width / teacher width")] = RC.multi,
    slope: Annotated[float, typer.Option(help="Leaky ReLU slope (0 = ReLU)")] = RC.slope,
    samples: Annotated[int, typer.Option(help="samples for the matrix-form expectations")] =
        RC.samples,
    data_std: Annotated[float, typer.Option(help="x ~ N(0, σ² I); Luck Matters: 10")] = RC.data_std,
    seed: SeedOpt = ROOT_SEED,
    device: DeviceOpt = DEVICE,
    figure: FigureOpt = None,
) -> None:
    """Theorem 1 vs autograd (every layer), and the matrix-form error per layer on a
    Luck Matters teacher 10-15-20-25 (d = 20, c = 30) with a default-init student."""
    dev = resolve_device(device)
    depth_list = tuple(parse_ints(depths, "--depths", 1))
    if max(depth_list) > MAX_DEPTH:
        raise ConfigError(f"--depths: at most {MAX_DEPTH} hidden layers, got {max(depth_list)}")
    if width < 1 or multi < 1 or samples < 2:
        raise ConfigError("--width and --multi must be >= 1, --samples >= 2")
    _positive(data_std, "data-std")
    if not 0 <= slope <= 1:
        raise ConfigError(f"--slope must be in [0, 1], got {slope}")
    _check_figure(figure)
    cfg = RC(depth_list, width, multi, slope, samples, data_std)
    res = rc.rule_check(cfg, seed=seed, device=dev)
    _table("Theorem 1: max |g_rule − g_autograd| per node layer (0 = input)",
           ("depth", "teacher", "student", "per layer", "max"),
           [(str(len(r.teacher_widths)), "-".join(map(str, r.teacher_widths)),
             "-".join(map(str, r.student_widths)), " ".join(f"{e:.1e}" for e in r.errors),
             f"{max(r.errors):.1e}") for r in res.theorem1])
    top = len(res.matrix_form)
    names = {top: "output", top - 1: f"W{top - 1} (top hidden)"}
    _table(f"Matrix form H*W̃*L*ᵀ − HW̃Lᵀ vs true expected gradient ({samples} samples)",
           ("weight layer", "rows × cols", "relative error"),
           [(names.get(r.layer, f"W{r.layer}"), "×".join(map(str, r.shape)),
             f"{r.relative_error:.3g}") for r in res.matrix_form])
    _draw(figure, lambda plots, path: plots.layer_error_figure(
        [f"W{r.layer}" for r in res.matrix_form], [r.relative_error for r in res.matrix_form],
        path, "matrix-form relative error"))
