"""relulab against the original code's recorded outputs (``reference/``, docs/conventions.md).

Each check runs relulab with the settings of one reference file and compares, claim by claim:
per-node success counts (Fisher exact), per-layer ρ̄ and log losses (Welch). Different random
streams: per-seed values differ, distributions must not.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

import torch

from relulab.config import RunConfig, with_overrides
from relulab.config.presets import get_preset
from relulab.fidelity.claims import (
    LOG_LOSS_MARGIN,
    RHO_MARGIN,
    Claim,
    fisher_claim,
    welch_claim,
)
from relulab.metrics import recovered, recovery_rate
from relulab.training.engine import train_group
from relulab.training.recorder import StatsRecorder

TWO_LAYER_FILE = "original_two_layer_32seeds.json"
LUCK_FILE = "original_luck_fc_small_10seeds.json"
EARLY_EPOCH = 5  # the paper's "after 5 epochs" curves
P0_MIN_RATE = 0.95  # p = 0: every teacher node recovered in at least this share of seeds


@cache
def load_reference(name: str) -> dict[str, Any]:
    """A reference file shipped with relulab (outputs of the original code; see its README)."""
    text = resources.files("relulab.fidelity").joinpath("reference", name).read_text()
    return json.loads(text)


def two_layer_config(ref: dict[str, Any] | None = None) -> RunConfig:
    """``spec-two-layer`` with the settings of the recorded small run (p set per member)."""
    c = (ref or load_reference(TWO_LAYER_FILE))["config_common"]
    return with_overrides(get_preset("spec-two-layer"), {
        "d": c["d"], "m": c["m"], "multi": c["multi"], "c": c["c"], "lr": c["lr"],
        "batch": c["batchsize"], "N": c["N_train"],
        "data.eval_size": c["N_eval"], "epochs": c["num_epoch"],
        "steps_per_epoch": c["num_iter_per_epoch"], "sigma": c["data_std"],
        "teacher.bias_value": c["bias"], "student.init_std": c["student_scale"],
        "dtype": c["dtype"]})


def _best_corr(recorder: StatsRecorder, epoch: int, members: range) -> torch.Tensor:
    """Best eval correlation per teacher node ``(S, m)`` of layer 1 at ``epoch``."""
    rows = {r["member"]: r for r in recorder.rows if r["epoch"] == epoch and r["layer"] == 1}
    return torch.tensor([rows[i]["teacher_best_corr"] for i in members], dtype=torch.float64)


def two_layer_claims(num_seeds: int, *, device: str = "cpu", progress: bool = False
                     ) -> list[Claim]:
    """Success counts per teacher node (after 5 epochs and at the end), p = 0 recovery, and
    final log10 eval loss, for p = 0 and p = 2, against :data:`TWO_LAYER_FILE` (``num_seeds``
    relulab seeds per p)."""
    ref = load_reference(TWO_LAYER_FILE)
    base = two_layer_config(ref)
    ps = ref["teacher_strength_decay_values"]
    cfgs = [with_overrides(base, {"p": float(p)}) for p in ps for _ in range(num_seeds)]
    seeds = list(range(num_seeds)) * len(ps)
    recorder = StatsRecorder()
    result = train_group(cfgs, seeds, device=device, callbacks=[recorder], progress=progress)
    final_epoch = base.optim.epochs
    source = f"reference/{TWO_LAYER_FILE}"
    claims: list[Claim] = []
    for k, p in enumerate(ps):
        theirs = ref["results"][f"p={p}"]
        n_ref = len(theirs["per_seed"])
        members = range(k * num_seeds, (k + 1) * num_seeds)
        best = {epoch: _best_corr(recorder, epoch, members)  # (S, m) per epoch
                for epoch in (EARLY_EPOCH, final_epoch)}
        for label, epoch, key in (("after 5 epochs", EARLY_EPOCH, "success_count_after_5_epochs"),
                                  ("final", final_epoch, "success_count_final")):
            ok = recovered(best[epoch]).sum(0).tolist()
            for node, (a, b) in enumerate(zip(ok, theirs[key], strict=True)):
                claims.append(fisher_claim(f"two-layer p={p}, {label}", f"node {node} successes",
                                           (int(a), num_seeds), (int(b), n_ref), source))
        if p == 0:
            rate = recovery_rate(best[final_epoch])
            worst = float(rate.min())
            counts = ", ".join(f"{b}/{n_ref}" for b in theirs["success_count_final"])
            claims.append(Claim("two-layer p=0, final", "every node recovered (min rate)",
                                f"{worst:.3f}", counts, source, "min rate", worst,
                                f"≥ {P0_MIN_RATE}", worst >= P0_MIN_RATE))
        ours = torch.log10(result.eval_loss[list(members)]).tolist()
        claims.append(welch_claim(f"two-layer p={p}, final", "log10 eval loss (MSE)", ours,
                                  [math.log10(v) for v in theirs["final_eval_loss_per_seed"]],
                                  source, LOG_LOSS_MARGIN))
    return claims


def luck_config(ref: dict[str, Any] | None = None) -> RunConfig:
    """``luck-fc-small`` with the settings of the recorded run."""
    c = (ref or load_reference(LUCK_FILE))["config"]
    return with_overrides(get_preset("luck-fc-small"), {
        "widths": ",".join(map(str, c["ks"])), "d": c["data_d"], "multi": c["node_multi"],
        "c": c["d_output"], "sigma": c["data_std"], "lr": c["lr"], "batch": c["batchsize"],
        "epochs": c["num_epoch"], "N": c["train_set_size"],
        "data.eval_size": c["eval_set_size"], "dtype": c["dtype"]})


def luck_claims(num_seeds: int, *, device: str = "cpu", progress: bool = False
                ) -> list[Claim]:
    """ρ̄ per layer at init and after training (eval set, 192 samples as the original)
    against :data:`LUCK_FILE`: Welch's t and interval on per-seed values."""
    ref = load_reference(LUCK_FILE)
    cfg = luck_config(ref)
    recorder = StatsRecorder(eval_samples=192)
    train_group([cfg] * num_seeds, list(range(num_seeds)), device=device, callbacks=[recorder],
                progress=progress)
    source = f"reference/{LUCK_FILE}"
    claims = []
    for label, epoch, key in (("init", 0, "eval_init"),
                              (f"after {cfg.optim.epochs} epochs", cfg.optim.epochs,
                               "eval_final")):
        theirs = torch.tensor(ref["summary"][key]["per_seed"], dtype=torch.float64)  # (S, L)
        for layer in range(theirs.shape[1]):
            ours = [r["rho_greedy"] for r in recorder.rows
                    if r["epoch"] == epoch and r["layer"] == layer + 1]
            claims.append(welch_claim(f"Luck Matters FC 10-15-20-25, {label}",
                                      f"ρ̄ layer {layer + 1} (192 eval samples)", ours,
                                      theirs[:, layer].tolist(), source, RHO_MARGIN))
    return claims
