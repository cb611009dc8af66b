"""Which torch device a model runs on: one rule for the curate steps, the trainer's evaluation
and ``voxsift evaluate``, so ``device: cuda`` on a machine without a GPU reads the same everywhere.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def resolve_device(setting: str) -> str:
    """The torch device to use: the GPU when asked for (or "auto") and present, else the CPU,
    with a warning when a GPU was asked for by name."""
    import torch

    if setting == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda" if setting == "auto" else setting
    if setting != "auto":
        log.warning("device %r requested but no GPU is visible; running on the CPU", setting)
    return "cpu"
