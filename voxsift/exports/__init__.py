"""Exports of a run's shards to the trainers people already use: NeMo, Lhotse, Hugging Face.

``export(out, to, dest)`` reads ``OUT/shards`` (index.json and the tars, through FileSystems) and
writes ``dest`` (local or a URI). Each format lives in its own module; lhotse is an optional extra
imported only by its export.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from voxsift import io
from voxsift.exports.hf import export_hf
from voxsift.exports.lhotse_cuts import export_lhotse
from voxsift.exports.nemo import export_nemo
from voxsift.exports.shards import ExportError

FORMATS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "nemo": export_nemo,
    "lhotse": export_lhotse,
    "hf": export_hf,
}

__all__ = ["FORMATS", "ExportError", "add_export_arguments", "export", "run_export"]


def export(out: str, to: str, dest: str) -> dict[str, Any]:
    """Export the shards of run folder ``out`` as ``to`` (nemo, lhotse or hf) into ``dest``."""
    if to not in FORMATS:
        raise ValueError(f"--to must be one of {', '.join(FORMATS)} (got {to!r})")
    io.make_dirs(dest)
    summary = FORMATS[to](io.join(out, "shards"), dest)
    return {"to": to, "dest": dest, **summary}


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``voxsift export``."""
    parser.add_argument("out", help="run folder whose shards/ to export (local or gs://...)")
    parser.add_argument(
        "--to",
        required=True,
        choices=sorted(FORMATS),
        help="nemo: JSONL manifests + audio files; lhotse: CutSet manifests + audio files "
        "(needs voxsift[lhotse]); hf: the tars + a dataset card for datasets.load_dataset",
    )
    parser.add_argument("dest", help="folder (local or a URI) that receives the export")


def run_export(args: argparse.Namespace) -> int:
    """Entry of ``voxsift export``: prints the summary as JSON; ExportError names the fix."""
    print(json.dumps(export(args.out, args.to, args.dest), indent=2, sort_keys=True))
    return 0
