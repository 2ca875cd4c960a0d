"""``relulab validate``: every fidelity check in one run, as a table of claims.

Checks: the two-layer Student Specialization reference (success counts per node, losses), the
Luck Matters deep FC reference (ρ̄ per layer) and the paper claims relulab checks on its own
(Theorem 1, saddles, the K = 6 spurious minimum, Theorem 5). ``quick`` (CI, a few minutes on 2
cores) runs fewer seeds than ``full``; the verdict rules are the same.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relulab.config.ids import iso_time
from relulab.fidelity.claims import VALIDATE_FILE, Claim, write_claims


@dataclass(frozen=True)
class Mode:
    two_layer_seeds: int  # per p on relulab's side (the original: 8)
    luck_seeds: int  # deep FC seeds (the original: 3)
    theory_quick: bool


MODES = {"quick": Mode(two_layer_seeds=32, luck_seeds=4, theory_quick=True),
         "full": Mode(two_layer_seeds=128, luck_seeds=32, theory_quick=False)}
CHECKS = ("two-layer", "luck", "theory")


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
                 progress: bool = False, out: str | Path | None = None,
                 on_check: Callable[[str, list[Claim], float], None] | None = None
                 ) -> list[Claim]:
    """Run ``checks`` in ``mode`` ("quick" | "full") and return all claims; with ``out``,
    write ``out/validate.json`` (atomically) for ``relulab report``."""
    from relulab.config import ConfigError
    from relulab.results.store import versions

    if mode not in MODES:
        raise ConfigError(f"unknown validate mode '{mode}' (known: {', '.join(MODES)})")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise ConfigError(f"unknown check '{(unknown or [''])[0]}' (known: {', '.join(CHECKS)})")
    runners = _check_runners(MODES[mode], device, progress)
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
                     started_at=started, seconds=round(time.perf_counter() - t0, 1),
                     device=device, versions=versions(), command=" ".join(sys.argv))
    return claims
