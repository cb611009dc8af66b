"""Checkpoint files: one ``checkpoint.pt`` per output folder, replaced atomically.

It holds only tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it: loading a checkpoint cannot run code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from voxsift import io
from voxsift.trainers.settings import TrainSettings

FILE = "checkpoint.pt"
IGNORED_ON_RESUME = frozenset({"log_every", "save_every", "eval", "merge", "output"})
"""Settings that do not change what is trained, so a resume need not warn about them."""


def path(out: Path) -> Path:
    return out / FILE


def save(out: Path, state: dict[str, Any]) -> None:
    """Write to a temporary name, then rename: a crash never leaves half a checkpoint, and a
    failed write (a full disk) leaves no temporary file."""
    out.mkdir(parents=True, exist_ok=True)
    with io.local_temporary(path(out)) as temporary:
        torch.save(state, temporary)


def load(out: Path, device: torch.device) -> dict[str, Any]:
    return torch.load(path(out), map_location=device, weights_only=True)


def changed_settings(saved_json: str, current: TrainSettings) -> list[str]:
    """Top-level settings that differ between the checkpoint and the current config."""
    saved = json.loads(saved_json)
    now = json.loads(current.model_dump_json())
    return sorted(k for k in now if k not in IGNORED_ON_RESUME and saved.get(k) != now[k])


def write_json(target: Path, value: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with io.local_temporary(target) as temporary:
        Path(temporary).write_text(json.dumps(value, indent=1, ensure_ascii=False))
