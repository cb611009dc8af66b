"""Exports of a run's shards to the trainers people already use: NeMo, Lhotse, Hugging Face.

``export(out, to, dest)`` reads ``OUT/shards`` (index.json and the tars, through FileSystems) and
writes ``dest`` (local or a URI). Each format lives in its own module and is registered by name in
:data:`EXPORTS` (where ``voxsift export --to`` takes its choices) as a light :class:`ExportFormat`
whose function is imported only when it runs; lhotse is an optional extra imported only by its
export. Every format checks every shard as ``voxsift verify`` does before it
writes anything (ShardError, a ValueError, names the offending entry), and writes only through
``shards.Destination``, inside ``dest`` (DestinationError otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxsift.registry import Lazy, Registry


@dataclass(frozen=True)
class ExportFormat:
    """One export: ``run(shards, dest) -> summary`` (usually a Lazy reference, so ``voxsift export
    --help`` and this package stay free of torch, Beam and webdataset) and its help line."""

    run: Callable[[str, str], dict[str, Any]]
    about: str


EXPORTS: Registry[ExportFormat] = Registry("export format")
EXPORTS.add(
    "nemo",
    ExportFormat(Lazy("voxsift.exports.nemo:export_nemo"), "JSONL manifests + audio files"),
)
EXPORTS.add(
    "lhotse",
    ExportFormat(
        Lazy("voxsift.exports.lhotse_cuts:export_lhotse"),
        "CutSet manifests + audio files (needs voxsift[lhotse])",
    ),
)
EXPORTS.add(
    "hf",
    ExportFormat(
        Lazy("voxsift.exports.hf:export_hf"), "the tars + a dataset card for datasets.load_dataset"
    ),
)
_ERRORS = {
    "DestinationError": "voxsift.exports.shards",
    "ExportError": "voxsift.exports.shards",
    "ShardError": "voxsift.shardio",
}

__all__ = [
    "EXPORTS",
    "ExportFormat",
    "DestinationError",
    "ExportError",
    "ShardError",
    "add_export_arguments",
    "export",
    "run_export",
]


def __getattr__(name: str) -> Any:
    """The error classes, imported on first use (PEP 562), so this package stays light."""
    if name in _ERRORS:
        return getattr(importlib.import_module(_ERRORS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def export(out: str, to: str, dest: str) -> dict[str, Any]:
    """Export the shards of run folder ``out`` as ``to`` (nemo, lhotse or hf) into ``dest``."""
    from voxsift import io

    summary = EXPORTS.get(to).run(io.join(out, "shards"), dest)
    return {"to": to, "dest": dest, **summary}


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``voxsift export``."""
    parser.add_argument("out", help="run folder whose shards/ to export (local or gs://...)")
    parser.add_argument(
        "--to",
        required=True,
        choices=EXPORTS.names(),
        help="; ".join(f"{name}: {kind.about}" for name, kind in EXPORTS.items()),
    )
    parser.add_argument("dest", help="folder (local or a URI) that receives the export")


def run_export(args: argparse.Namespace) -> int:
    """Entry of ``voxsift export``: prints the summary as JSON; ExportError names the fix."""
    print(json.dumps(export(args.out, args.to, args.dest), indent=2, sort_keys=True))
    return 0
