"""Chain the stages, record the run in ``run.json`` and print a readable summary.

Each stage is fingerprinted by its own config section and the fingerprint of the stage before it
(curate: by the input listing), so ``--resume`` reruns exactly the stages whose inputs changed.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from collections.abc import Callable
from typing import Any

from voxsift import io
from voxsift.config import RunConfig
from voxsift.pipelines import curate, select, shard
from voxsift.pipelines.stage import (
    AccountingError,
    StageResult,
    fingerprint,
    read_marker,
    run_stage,
)
from voxsift.progress import ProgressDisplay, ProgressSink, is_local
from voxsift.transforms import steps
from voxsift.transforms.embed import Embed
from voxsift.transforms.ingest import is_manifest

log = logging.getLogger(__name__)
STAGES = ("curate", "select", "shard")
_PACKAGES = ("voxsift", "apache-beam", "torch", "torchaudio", "pyarrow", "webdataset",
             "faiss-cpu", "soundfile", "silero-vad", "numpy")  # fmt: skip


_LATER_SECTIONS = frozenset({"output", "select", "shard", "train"})
"""Sections that do not change what curate writes; every other section does."""


def curate_steps(config: RunConfig) -> list[tuple[str, Any]]:
    """The per-segment steps after segmentation, in order, as (name, PTransform) pairs."""
    transforms = steps.curate_steps(config.quality, config.enhance, config.label, config.normalize)
    return transforms + ([("Embed", Embed(config.embed))] if config.embed.kinds else [])


def config_hash(config: RunConfig) -> str:
    """What made the data, for provenance; the output folder is not part of it."""
    return fingerprint(config.model_dump(mode="json", exclude={"output"}))


def _input_listing(config: RunConfig) -> list[Any]:
    return [io.match(spec) for spec in (*config.input, *config.target)]


def stage_fingerprints(config: RunConfig) -> dict[str, str]:
    sections = config.model_dump(mode="json")
    curate_sections = {k: v for k, v in sections.items() if k not in _LATER_SECTIONS}
    curate_print = fingerprint("curate", curate_sections, _input_listing(config))
    select_print = fingerprint("select", curate_print, sections["select"])
    return {
        "curate": curate_print,
        "select": select_print,
        "shard": fingerprint("shard", select_print, sections["shard"]),
    }


def _stage_spec(
    name: str, config: RunConfig, sink: ProgressSink
) -> tuple[list[str], Callable, Callable, Callable]:
    out = config.output
    if name == "curate":
        return (
            [io.join(out, "segments"), io.join(out, "rejects")],
            lambda p: curate.build(p, config, curate_steps(config), sink),
            lambda c: curate.count(out, c),
            curate.check,
        )
    if name == "select":
        return (
            [io.join(out, "selection")],
            lambda p: select.build(p, config, sink),
            lambda c: select.count(out, c),
            select.check,
        )
    return (
        [io.join(out, "shards")],
        lambda p: shard.build(p, config, config_hash(config), sink),
        lambda c: shard.count(out, c),
        shard.check,
    )


_MARKER_FOLDERS = {"curate": "segments", "select": "selection", "shard": "shards"}
_PROGRESS = {"curate": ("files", None), "select": ("segments", "segments_kept"),
             "shard": ("samples", "selected")}  # fmt: skip
"""Per stage: the unit it counts and the count of the stage before it that is its total."""


def _count_inputs(config: RunConfig) -> int:
    """Input files to curate, for the progress total (a local run only: reads the manifests)."""
    total = 0
    for spec in (*config.input, *config.target):
        if not is_manifest(spec):
            total += max(1, len(io.match(spec)))
        elif io.exists(spec):
            total += sum(1 for line in io.iter_lines(spec) if line.strip())
        else:
            total += 1
    return total


def _display(name: str, config: RunConfig, beam_args: list[str], previous) -> ProgressDisplay:
    enabled = sys.stderr.isatty() and is_local(beam_args)
    unit, total_key = _PROGRESS[name]
    if not enabled:
        total = None
    elif total_key is None:
        total = _count_inputs(config)
    else:
        total = previous["counts"].get(total_key)
    return ProgressDisplay(name, unit, total, enabled)


def run_one(name: str, config: RunConfig, beam_args: list[str], resume: bool) -> StageResult:
    """Run one stage; the stages before it must have finished."""
    position = STAGES.index(name)
    previous = None
    if position:
        before = io.join(config.output, _MARKER_FOLDERS[STAGES[position - 1]])
        previous = read_marker(before)
        if previous is None:
            raise RuntimeError(f"{name} needs a finished {STAGES[position - 1]} stage in {before}")
    print(f"voxsift: {name} …", file=sys.stderr, flush=True)
    prints = stage_fingerprints(config)
    with _display(name, config, beam_args, previous) as display:
        folders, build, count, check = _stage_spec(name, config, display.sink())
        return run_stage(name, folders, prints[name], build, count, check, beam_args, resume)


def cross_checks(results: dict[str, StageResult]) -> list[str]:
    """Counts that must agree between stages: nothing lost or duplicated on the way."""
    curated, selected, sharded = (results[name].counts for name in STAGES)
    problems = []
    if selected["rows"] != curated["segments_kept"]:
        problems.append("select rows != curate segments_kept")
    if sharded["samples_written"] != selected["selected"]:
        problems.append("shard samples_written != select selected")
    return problems


def run_all(config: RunConfig, beam_args: list[str], resume: bool) -> dict[str, Any]:
    """curate → select → shard, then run.json; returns the run record."""
    io.make_dirs(config.output)
    results = {name: run_one(name, config, beam_args, resume) for name in STAGES}
    problems = cross_checks(results)
    if problems:
        raise AccountingError("; ".join(problems))
    record = {
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash(config),
        "beam_args": beam_args,
        "versions": _versions(),
        "stages": {
            name: {"counts": r.counts, "seconds": r.seconds, "skipped": r.skipped}
            for name, r in results.items()
        },
    }
    if config.train is not None:
        record["train"] = run_train(config, resume)
    io.write_json_atomic(io.join(config.output, "run.json"), record)
    return record


def run_train(config: RunConfig, resume: bool) -> dict[str, Any]:
    """Fine-tune the configured adapter on the run's shards; returns the headline figures."""
    from voxsift.trainers.loop import train

    print("voxsift: train …", file=sys.stderr, flush=True)
    out = io.join(config.output, config.train.output)
    metrics = train(config.train, shards=io.join(config.output, "shards"), out=out, resume=resume)
    keys = ("model", "adapter", "steps", "trainable_parameters", "total_parameters",
            "loss_start", "loss_end", "final_eval", "audio_seconds", "session_seconds")  # fmt: skip
    return {"out": out, **{key: metrics.get(key) for key in keys}}


def _versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["python"] = sys.version.split()[0]
    return versions
