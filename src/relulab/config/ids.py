"""Identifiers and timestamps used across relulab (torch-free, stdlib only).

- :func:`short_hash`: the 16-hex-digit SHA-256 prefix naming configs, cells, batches, sweeps.
- :func:`json_hash`: the same of an object's canonical JSON (sorted keys).
- :func:`iso_time`: local time as ISO 8601 with UTC offset, as written in manifests and rows.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

HASH_DIGITS = 16  # hex digits kept of a SHA-256 (64 bits: no collision among a study's runs)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # e.g. 2024-05-01T10:00:00+0200


def short_hash(data: str | bytes) -> str:
    """First :data:`HASH_DIGITS` hex digits of the SHA-256 of ``data`` (text as UTF-8)."""
    blob = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(blob).hexdigest()[:HASH_DIGITS]


def json_hash(obj: Any) -> str:
    """:func:`short_hash` of ``json.dumps(obj, sort_keys=True)`` (tuples hash as lists)."""
    return short_hash(json.dumps(obj, sort_keys=True))


def iso_time(t: float | None = None) -> str:
    """Local time ``t`` (seconds since the epoch; now when None) as :data:`TIME_FORMAT`."""
    return time.strftime(TIME_FORMAT, time.localtime(t))
