"""``relulab validate``: every fidelity check in one run, as a table of claims.

Checks: the two-layer Student Specialization reference (success counts per node, losses), the
Luck Matters deep FC reference (ρ̄ per layer) and the paper claims relulab checks on its own
(Theorem 1, saddles, the K = 6 spurious minimum, Theorem 5). ``quick`` (CI, a few minutes on 2
cores) runs fewer seeds than ``full``; the verdict rules are the same. ``full`` (128 seeds per p,
32 deep FC) makes every two-layer and deep-FC row conclusive against the 32- and 10-seed
references except where the reference's own spread leaves too little room inside the margin
(measured: p = 2 nodes 2 and 3 at the end, ρ̄ of layer 1 after training; README); ``seeds`` sets
relulab's side of both to any number.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relulab.config.ids import iso_time
from relulab.fidelity.claims import VALIDATE_FILE, Claim, write_claims


@dataclass(frozen=True)
class Mode:
    two_layer_seeds: int  # per p on relulab's side (the original: 32)
    luck_seeds: int  # deep FC seeds (the original: 10)
    theory_quick: bool


MODES = {"quick": Mode(two_layer_seeds=32, luck_seeds=4, theory_quick=True),
         "full": Mode(two_layer_seeds=128, luck_seeds=32, theory_quick=False)}
CHECKS = ("two-layer", "luck", "theory")
MIN_SEEDS = 2


def _check_runners(mode: Mode, device: str, progress: bool
                   ) -> dict[str, Callable[[], list[Claim]]]:
    from relulab.fidelity import original, theory_checks

    return {
        "two-layer": lambda: original.two_layer_claims(mode.two_layer_seeds, device=device,
                                                       progress=progress),
        "luck": lambda: original.luck_claims(mode.luck_seeds, device=device,
                                             progress=progress),
        "theory": lambda: theory_checks.theory_claims(quick=mode.theory_quick),
    }


def run_validate(mode: str = "quick", *, checks: tuple[str, ...] = CHECKS, device: str = "cpu",
                 seeds: int | None = None, progress: bool = False,
                 out: str | Path | None = None,
                 on_check: Callable[[str, list[Claim], float], None] | None = None
                 ) -> list[Claim]:
    """Run ``checks`` in ``mode`` ("quick" | "full") and return all claims; ``seeds`` (≥ 2)
    replaces the mode's relulab seeds of the two-layer (per p) and deep-FC checks; with ``out``,
    write ``out/validate.json`` (atomically) for ``relulab report``."""
    from relulab.config import ConfigError
    from relulab.results.store import versions

    if mode not in MODES:
        raise ConfigError(f"unknown validate mode '{mode}' (known: {', '.join(MODES)})")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise ConfigError(f"unknown check '{(unknown or [''])[0]}' (known: {', '.join(CHECKS)})")
    if seeds is not None and seeds < MIN_SEEDS:
        raise ConfigError(f"--seeds must be >= {MIN_SEEDS} (a spread needs two values), "
                          f"got {seeds}")
    chosen = MODES[mode]
    if seeds is not None:
        chosen = dataclasses.replace(chosen, two_layer_seeds=seeds, luck_seeds=seeds)
    runners = _check_runners(chosen, device, progress)
    started, t0 = iso_time(), time.perf_counter()
    claims: list[Claim] = []
    for name in checks:
        t = time.perf_counter()
        got = runners[name]()
        claims += got
        if on_check is not None:
            on_check(name, got, time.perf_counter() - t)
    if out is not None:
        write_claims(Path(out) / VALIDATE_FILE, claims, mode=mode, checks=list(checks),
                     two_layer_seeds=chosen.two_layer_seeds, luck_seeds=chosen.luck_seeds,
                     started_at=started, seconds=round(time.perf_counter() - t0, 1),
                     device=device, versions=versions(), command=" ".join(sys.argv))
    return claims
