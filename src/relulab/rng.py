"""Explicit random streams: every generator derives from (root_seed, seed, stream).

Rule: ``torch.Generator(device).manual_seed(int(sha256(f"{root_seed}:{seed}:{stream}")[:15]))``.
So seed ``i`` draws the same teacher, student, data and shuffles whether it runs alone or in a
batch, and the library never touches the global RNG.
"""

from __future__ import annotations

import hashlib

import torch

STREAMS = ("teacher", "student", "train", "eval", "shuffle", "noise")
SHARED_SEED = -1  # the seed whose teacher and data every member shares (shared_teacher=True)


def data_seed(seed: int, shared_teacher: bool) -> int:
    """The seed a member's teacher and data sets are drawn as: its own, or the shared one."""
    return SHARED_SEED if shared_teacher else seed


def seed_value(root_seed: int, seed: int, stream: str) -> int:
    digest = hashlib.sha256(f"{root_seed}:{seed}:{stream}".encode()).hexdigest()
    return int(digest[:15], 16)


def generator(root_seed: int, seed: int, stream: str,
              device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator for ``stream`` of seed ``seed`` under ``root_seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(seed_value(root_seed, seed, stream))
    return g
