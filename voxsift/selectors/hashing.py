"""Reproducible pseudo-random numbers keyed by (seed, key), identical on every runner and worker."""

from __future__ import annotations

import hashlib


def uniform_hash(seed: int, key: str, salt: str = "") -> float:
    """A uniform number in [0, 1) from (seed, key): the same on every runner and worker."""
    digest = hashlib.sha256(f"{salt}{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
