"""The train stage of ``voxsift run``: the configured adapter fine-tuned on the run's shards.

It behaves like the Beam stages. It owns one folder, ``OUTPUT/<train.output>``, clears it before
it trains afresh (only a folder voxsift marked as its own, see :mod:`workspace`), and writes
``_SUCCESS`` last, holding a fingerprint of the ``train:`` section and of the shards'
``index.json`` (whose sha256 per shard covers the shards' bytes). So:

- ``--resume`` with a marker of the same fingerprint: skipped, the earlier figures reported;
- ``--resume`` after an interrupted training of the same fingerprint (``_STARTED`` and a
  checkpoint, no marker): continued from its checkpoint, to the parameters an uninterrupted run
  reaches;
- anything else (a plain rerun, a changed section, changed shards): the folder is cleared and
  training starts again from step 0.

The trainer writes through :mod:`voxsift.io`, so a remote output (``gs://``) works as a local one.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from typing import Any

from voxsift import io, shardio
from voxsift.config import RunConfig
from voxsift.pipelines import workspace
from voxsift.pipelines.stage import MARKER, fingerprint, read_marker

log = logging.getLogger(__name__)
STAGE = "train"
STARTED = "_STARTED"
"""Written when a training starts afresh: which fingerprint its checkpoints belong to."""
HEADLINE = ("model", "adapter", "steps", "trainable_parameters", "total_parameters",
            "loss_start", "loss_end", "final_eval", "audio_seconds", "session_seconds")  # fmt: skip
"""The figures of metrics.json that run.json and the summary carry."""


def output_folder(config: RunConfig) -> str:
    return io.join(config.output, config.train.output)


def train_fingerprint(config: RunConfig) -> str:
    """The train section and the exact shards it trains on (their ``index.json``)."""
    index = io.read_bytes(io.join(config.output, "shards", shardio.INDEX))
    section = config.model_dump(mode="json")["train"]
    return fingerprint(STAGE, section, hashlib.sha256(index).hexdigest())


def run(config: RunConfig, resume: bool) -> dict[str, Any]:
    """Train (or skip, or continue) as the module says; returns the headline figures."""
    from voxsift.trainers.checkpoint import FILE as CHECKPOINT
    from voxsift.trainers.loop import train

    out, print_ = output_folder(config), train_fingerprint(config)
    marker = read_marker(out)
    if resume and marker and marker.get("fingerprint") == print_:
        print("voxsift: train: finished earlier on the same shards, skipping", file=sys.stderr)
        return {**marker["counts"], "skipped": True}
    started = _read_json(io.join(out, STARTED)) or {}
    continuing = (
        resume
        and marker is None
        and started.get("fingerprint") == print_
        and io.exists(io.join(out, CHECKPOINT))
    )
    print(f"voxsift: train{' (continued)' if continuing else ''} …", file=sys.stderr, flush=True)
    if not continuing:
        workspace.clear_stage_folder(out, STAGE)
        io.write_json_atomic(io.join(out, STARTED), {"stage": STAGE, "fingerprint": print_})
    began = time.monotonic()
    metrics = train(config.train, io.join(config.output, "shards"), out, resume=continuing)
    headline = {"out": out, **{key: metrics.get(key) for key in HEADLINE}}
    io.write_json_atomic(
        io.join(out, MARKER),
        {
            "stage": STAGE,
            "fingerprint": print_,
            "counts": headline,
            "seconds": round(time.monotonic() - began, 2),
        },
    )
    return {**headline, "skipped": False}


def _read_json(path: str) -> dict[str, Any] | None:
    return io.read_json(path) if io.exists(path) else None
