"""``relulab theory ...`` commands: each prints a rich table and can write a figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from relulab.cli.common import console, resolve_device, user_errors
from relulab.config import ConfigError, RunConfig, StudentConfig, TeacherConfig

theory_app = typer.Typer(no_args_is_help=True, help="Closed forms, ODEs and checks of the theory.")

FigureOpt = Annotated[Path | None, typer.Option("--figure", help="write a figure (.png or .svg)")]
SeedOpt = Annotated[int, typer.Option("--seed", help="root seed of the random streams")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda")]


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


def _generator(seed: int, stream: str) -> torch.Generator:
    from relulab.rng import generator

    return generator(seed, 0, stream)


def _check_figure(figure: Path | None) -> None:
    if figure is not None:
        from relulab.theory.figures import check_path

        check_path(figure)


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ConfigError(f"--{name} must be > 0, got {value}")


@theory_app.command()
@user_errors
def saddles(
    ks: Annotated[str, typer.Option("--K", help="student counts, e.g. 2..8 or 3,6")] = "2..8",
    grid: Annotated[int, typer.Option(help="Newton starts per axis")] = 41,
    span: Annotated[float, typer.Option(help="starts on [-span, span]^2")] = 1.5,
    figure: FigureOpt = None,
) -> None:
    """Critical points of the 2-D symmetric dynamics (W* = I_K), classified in full K·K space."""
    from relulab.theory.symmetric import critical_points, diagonal_saddle_x

    values = parse_ints(ks, "--K", 2)
    if grid < 2:
        raise ConfigError(f"--grid must be >= 2, got {grid}")
    _positive(span, "span")
    _check_figure(figure)
    table = Table(title="Critical points of J on w_j = x e_j + y Σ_{k≠j} e_k (W* = I_K)")
    for col in ("K", "x", "y", "J", "2-D (−,0,+)", "K·K (−,0,+)", "type", "note"):
        table.add_column(col)
    found = {}
    for K in values:  # noqa: N806
        found[K] = critical_points(K, span=span, grid=grid)
        x_plus = diagonal_saddle_x(K)
        for p in found[K]:
            note = ""
            if abs(p.x - p.y) < 1e-9:
                note = f"paper x⁺ = {x_plus:.6f}" if abs(p.x - x_plus) < 1e-6 else "diagonal"
            elif p.loss < 1e-12:
                note = "global min (W*" + (")" if p.x > 0.5 else " permuted)")
            elif p.reduced_kind == "minimum":
                note = ("spurious local min (2-D and K·K)" if p.kind == "minimum"
                        else "min in 2-D only, saddle in K·K")
            loss = 0.0 if abs(p.loss) < 1e-12 else p.loss
            table.add_row(str(K), f"{p.x:+.6f}", f"{p.y:+.6f}", f"{loss:.6g}",
                          str(p.reduced_signature), str(p.full_signature), p.kind, note)
    console.print(table)
    if figure is not None:
        from relulab.theory.figures import phase_portraits

        console.print(f"figure written to {phase_portraits(found, figure, span=span)}")


@theory_app.command()
@user_errors
def converge(
    d: Annotated[str, typer.Option("--d", help="input dimensions, e.g. 5,20,100")] = "5,20,100",
    std: Annotated[str, typer.Option(help="init stds")] = "0.01,0.1,1",
    inits: Annotated[int, typer.Option(help="initial conditions per (d, std)")] = 1000,
    t_max: Annotated[float, typer.Option(help="flow time")] = 80.0,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    figure: FigureOpt = None,
) -> None:
    """Single ReLU (K = 1): fraction of random inits whose gradient flow reaches w*."""
    from relulab.theory.convergence import single_relu_convergence

    dims = parse_ints(d, "--d", 2)
    stds = parse_floats(std, "--std")
    if inits < 1:
        raise ConfigError(f"--inits must be >= 1, got {inits}")
    _positive(t_max, "t-max")
    _check_figure(figure)
    rows = single_relu_convergence(dims, stds, n_inits=inits, t_max=t_max,
                                   generator=_generator(seed, "theory-converge"),
                                   device=resolve_device(device))
    table = Table(title="Single ReLU: gradient flow from w0 ~ N(0, std² I) to w* (|w*| = 1)")
    for col in ("d", "std", "n", "converged", "95% CI", "P(w0 ∈ Ω)", "(1−ε)/2"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.d), f"{r.std:g}", str(r.n), f"{r.converged:.4f}",
                      f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", f"{r.basin:.3g}", f"{r.bound:.3g}")
    console.print(table)
    if figure is not None:
        from relulab.theory.figures import convergence_figure

        console.print(f"figure written to {convergence_figure(rows, figure)}")


@theory_app.command()
@user_errors
def ssb(
    k_nodes: Annotated[int, typer.Option("--K", help="students = teachers = d")] = 5,
    trials: Annotated[int, typer.Option(help="noisy symmetric starts")] = 64,
    noise: Annotated[float, typer.Option(help="std of the symmetry-breaking noise")] = 1e-6,
    x0: Annotated[float, typer.Option(help="start: diagonal entry")] = 1e-3,
    y0: Annotated[float, typer.Option(help="start: off-diagonal entry (= x0: all equal)")] = 1e-3,
    lr: Annotated[float, typer.Option(help="gradient-descent step")] = 0.1,
    max_steps: Annotated[int, typer.Option(help="step budget")] = 20_000,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    figure: FigureOpt = None,
) -> None:
    """Spontaneous symmetry breaking: symmetric start + noise -> a permutation of W* = I_K?"""
    from relulab.theory.convergence import symmetry_breaking

    if k_nodes < 2:
        raise ConfigError(f"--K must be >= 2, got {k_nodes}")
    if trials < 1 or max_steps < 1:
        raise ConfigError("--trials and --max-steps must be >= 1")
    _positive(noise, "noise")
    _positive(lr, "lr")
    _check_figure(figure)
    res = symmetry_breaking(k_nodes, n_trials=trials, noise=noise, x0=x0, y0=y0, lr=lr,
                            max_steps=max_steps, generator=_generator(seed, "theory-ssb"),
                            device=resolve_device(device))
    steps = res.steps[res.converged].to(torch.float64)
    table = Table(title=f"SSB, K = {k_nodes}: start W({x0:g}, {y0:g}) + {noise:g}·N(0, 1)")
    for col in ("trials", "to a permutation", "distinct perms", "steps median", "steps min–max",
                "worst final J", "start spread"):
        table.add_column(col)
    med = f"{float(steps.median()):.0f}" if steps.numel() else "-"
    rng = f"{int(steps.min())}–{int(steps.max())}" if steps.numel() else "-"
    table.add_row(str(trials), f"{int(res.converged.sum())}/{trials}",
                  str(res.distinct_permutations), med, rng,
                  f"{float(res.final_loss.max()):.3g}", f"{res.start_spread:.2g}")
    console.print(table)
    if figure is not None:
        from relulab.theory.figures import ssb_figure

        console.print(f"figure written to {ssb_figure(res, figure)}")


@theory_app.command()
@user_errors
def thm5(
    iters: Annotated[int, typer.Option(help="SGD steps (original: 20000)")] = 20_000,
    seeds: Annotated[int, typer.Option(help="independent runs in one batch")] = 1,
    update: Annotated[str, typer.Option(help="matrix (consistent matrix form) | matrix_orig (as "
        "the original: bias node dropped from H) | exact (true expected gradient)")] = "matrix",
    node_multi: Annotated[int, typer.Option(help="student width / teacher width")] = 2,
    lr: Annotated[float, typer.Option()] = 0.05,
    init_std: Annotated[float, typer.Option(help="perturbation std")] = 0.1,
    batch_size: Annotated[int, typer.Option("--batchsize", help="minibatch")] = 64,
    threshold: Annotated[float, typer.Option(help="angle (rad) counted as converged")] = 0.05,
    seed: SeedOpt = 232,
    device: DeviceOpt = "cpu",
    figure: FigureOpt = None,
) -> None:
    """Theorem 5 (fan-out of teacher-less nodes -> 0) and Theorem 4 (closer nodes converge
    faster), two-layer, student started near the teacher."""
    from relulab.theory.thm5 import Thm5Config, luck_table, run_thm5

    cfg = Thm5Config(node_multi=node_multi, lr=lr, init_std=init_std, batch_size=batch_size,
                     iters=iters, update=update)  # type: ignore[arg-type]
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    _positive(threshold, "threshold")
    _check_figure(figure)
    res = run_thm5(cfg, n_seeds=seeds, generator=_generator(seed, "theory-thm5"),
                   device=resolve_device(device))
    table = Table(title=f"Theorem 5 after {iters} steps ({update} update): fan-out row norms")
    for col in ("seed", "aligned min", "aligned max", "others min", "others max", "final loss"):
        table.add_column(col)
    for s in range(seeds):
        rel, irr = res.relevant[s], res.irrelevant[s]
        table.add_row(str(s), f"{float(rel.min()):.3g}", f"{float(rel.max()):.3g}",
                      f"{float(irr.min()):.3g}", f"{float(irr.max()):.3g}",
                      f"{float(res.loss[-1, s]):.3g}")
    console.print(table)
    rows, rho = luck_table(res, threshold)
    luck = Table(title=f"Theorem 4 'luck': initial angle vs steps until angle < {threshold:g}"
                       f" (Spearman ρ = {rho:.2f})")
    for col in ("initial angle quartile", "nodes", "reached", "mean steps"):
        luck.add_column(col)
    ordered = sorted(rows, key=lambda r: r.initial_angle)
    for q in range(4):
        part = ordered[q * len(ordered) // 4:(q + 1) * len(ordered) // 4]
        if not part:
            continue
        hit = [r.steps_to_threshold for r in part if r.steps_to_threshold >= 0]
        mean = f"{sum(hit) / len(hit):.0f}" if hit else "-"
        luck.add_row(f"{part[0].initial_angle:.3f}–{part[-1].initial_angle:.3f}",
                     str(len(part)), str(len(hit)), mean)
    console.print(luck)
    if figure is not None:
        from relulab.theory.figures import thm5_figure

        console.print(f"figure written to {thm5_figure(res, figure, threshold)}")


@theory_app.command("rule-check")
@user_errors
def rule_check(
    depths: Annotated[str, typer.Option(help="hidden-layer counts for Theorem 1")] = "1,2,3,4",
    width: Annotated[int, typer.Option(help="teacher hidden width (Theorem 1 nets)")] = 6,
    multi: Annotated[int, typer.Option(help="student width / teacher width")] = 2,
    slope: Annotated[float, typer.Option(help="Leaky ReLU slope (0 = ReLU)")] = 0.0,
    samples: Annotated[int, typer.Option(help="samples for the matrix-form expectations")] = 8192,
    data_std: Annotated[float, typer.Option(help="x ~ N(0, σ² I); Luck Matters: 10")] = 10.0,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    figure: FigureOpt = None,
) -> None:
    """Theorem 1 vs autograd (every layer), and the matrix-form error per layer on a
    Luck Matters teacher 10-15-20-25 (d = 20, c = 30) with a default-init student."""
    from relulab.rng import generator
    from relulab.students import make_students
    from relulab.teachers import make_teachers
    from relulab.theory.matrix_form import expectations
    from relulab.theory.recursive import random_net, rule_errors

    dev = resolve_device(device)
    depth_list = parse_ints(depths, "--depths", 1)
    if width < 1 or multi < 1 or samples < 2:
        raise ConfigError("--width and --multi must be >= 1, --samples >= 2")
    _positive(data_std, "data-std")
    if not 0 <= slope <= 1:
        raise ConfigError(f"--slope must be in [0, 1], got {slope}")
    _check_figure(figure)
    g = _generator(seed, "theory-rule")
    t1 = Table(title="Theorem 1: max |g_rule − g_autograd| per node layer (0 = input)")
    for col in ("depth", "teacher", "student", "per layer", "max"):
        t1.add_column(col)
    for depth in depth_list:
        tw = tuple(width + i for i in range(depth))
        sw = tuple(multi * w for w in tw)
        teacher = random_net(tw, 8, 5, 2, generator=g, leaky_slope=slope).to(dev)
        student = random_net(sw, 8, 5, 2, generator=g, leaky_slope=slope).to(dev)
        x = torch.randn(2, 64, 8, generator=g, dtype=torch.float64).to(dev)
        errs = rule_errors(teacher, student, x)
        t1.add_row(str(depth), "-".join(map(str, tw)), "-".join(map(str, sw)),
                   " ".join(f"{e:.1e}" for e in errs), f"{max(errs):.1e}")
    console.print(t1)
    tcfg = TeacherConfig(input_dim=20, widths=(10, 15, 20, 25), output_dim=30, leaky_slope=slope)
    cfg = RunConfig(teacher=tcfg, student=StudentConfig(multi=multi, leaky_slope=slope))
    teacher = make_teachers(tcfg, [generator(seed, 0, "teacher")], dtype=torch.float64,
                            device=dev)
    student = make_students(cfg, [generator(seed, 0, "student")], dtype=torch.float64,
                            device=dev)
    x = (torch.randn(1, samples, 20, generator=g, dtype=torch.float64) * data_std).to(dev)
    terms = expectations(teacher, student, x)
    t2 = Table(title=f"Matrix form H*W̃*L*ᵀ − HW̃Lᵀ vs true expected gradient ({samples} samples)")
    for col in ("weight layer", "rows × cols", "relative error"):
        t2.add_column(col)
    labels, errors = [], []
    for i, t in enumerate(terms):
        name = "output" if i == len(terms) - 1 else f"W{i + 1}"
        if i == len(terms) - 2:
            name += " (top hidden)"
        labels.append(f"W{i + 1}")
        errors.append(float(t.relative_error[0]))
        t2.add_row(name, "×".join(map(str, t.true_grad.shape[1:])), f"{errors[-1]:.3g}")
    console.print(t2)
    if figure is not None:
        from relulab.theory.figures import layer_error_figure

        out = layer_error_figure(labels, errors, figure, "matrix-form relative error")
        console.print(f"figure written to {out}")
