"""Chain the stages, record the run in ``run.json`` and print a readable summary.

Each stage is fingerprinted by its own config section and the fingerprint of the stage before it
(curate: by the input listing), so ``--resume`` reruns exactly the stages whose inputs changed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Iterator
from difflib import get_close_matches
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from voxsift import io
from voxsift.config import RunConfig
from voxsift.errors import InputError
from voxsift.pipelines import curate, select, shard, workspace
from voxsift.pipelines import train as train_stage
from voxsift.pipelines.listing import input_listing, require_matches
from voxsift.pipelines.models import check_models
from voxsift.pipelines.stage import (
    AccountingError,
    StageResult,
    fingerprint,
    read_marker,
    run_stage,
)
from voxsift.progress import ProgressDisplay, ProgressSink, is_local
from voxsift.transforms import steps
from voxsift.transforms.ingest import NOT_AUDIO_SUFFIXES, is_manifest, manifest_lines

log = logging.getLogger(__name__)
STAGES = ("curate", "select", "shard")
_PACKAGES = ("voxsift", "apache-beam", "torch", "torchaudio", "pyarrow", "webdataset",
             "faiss-cpu", "soundfile", "silero-vad", "numpy")  # fmt: skip


_LATER_SECTIONS = frozenset({"output", "select", "shard", "train"})
"""Sections that do not change what curate writes; every other section does."""


def config_hash(config: RunConfig) -> str:
    """What made the data, for provenance; the output folder is not part of it."""
    return fingerprint(config.model_dump(mode="json", exclude={"output"}))


def stage_fingerprints(config: RunConfig, inputs: list[Any]) -> dict[str, str]:
    """Each stage's fingerprint; ``inputs`` is :func:`input_listing` of the config."""
    sections = config.model_dump(mode="json")
    curate_sections = {k: v for k, v in sections.items() if k not in _LATER_SECTIONS}
    curate_print = fingerprint("curate", curate_sections, inputs)
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
            lambda p: curate.build(p, config, steps.curate_steps(config), sink),
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
    """The curate stage's ``inputs`` count, for the progress total (a local run only: reads the
    manifests, through the ingest's own guarded reader, so a FIFO or /dev/zero cannot hang it)."""
    total = 0
    for spec in (*config.input, *config.target):
        try:
            if is_manifest(spec):
                total += sum(1 for _ in manifest_lines(spec, config.ingest))
            else:
                matched = io.match_inputs(spec)
                total += max(1, sum(not p.lower().endswith(NOT_AUDIO_SUFFIXES) for p in matched))
        except (InputError, OSError):
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


def check_beam_args(beam_args: list[str]) -> None:
    """Refuse options Beam does not know: a typo such as ``--runer`` would otherwise be dropped
    with a warning and the job would run somewhere else than meant."""
    options = PipelineOptions(beam_args)
    known = options.get_all_options()
    unknown = sorted(set(options.get_all_options(retain_unknown_options=True)) - set(known))
    if unknown:
        hints = [
            f"--{name}"
            + "".join(f" (did you mean --{m}?)" for m in get_close_matches(name, known, 1))
            for name in unknown
        ]
        raise ValueError(f"unknown Beam option {', '.join(hints)}")


@contextlib.contextmanager
def prepared(
    config: RunConfig, beam_args: list[str], curating: bool, training: bool = False
) -> Iterator[dict[str, str]]:
    """Every check before any work, then hold the output folder for the whole run.

    Refuses unknown Beam options, an ``input``/``target`` entry that names no file (when curate
    is to run), an output that is a file, overlaps an input, holds files voxsift did not write,
    or is in use by another run (see :mod:`voxsift.pipelines.workspace`), and a model that the
    stages to run name but that cannot be loaded (:mod:`voxsift.pipelines.models`). Yields the
    stages' fingerprints.
    """
    check_beam_args(beam_args)
    inputs = input_listing(config)
    if curating:
        require_matches(config, inputs)
    workspace.check_output(config.output, [*config.input, *config.target])
    check_models(config, curating, training)
    with workspace.run_lock(config.output):
        workspace.claim_output(config.output)
        yield stage_fingerprints(config, inputs)


def run_one(name: str, config: RunConfig, beam_args: list[str], resume: bool) -> StageResult:
    """Run one stage; the stages before it must have finished."""
    with prepared(config, beam_args, curating=name == "curate") as prints:
        return _run_stage(name, config, beam_args, resume, prints)


def _run_stage(
    name: str, config: RunConfig, beam_args: list[str], resume: bool, prints: dict[str, str]
) -> StageResult:
    position = STAGES.index(name)
    previous = None
    if position:
        before = io.join(config.output, _MARKER_FOLDERS[STAGES[position - 1]])
        previous = read_marker(before)
        if previous is None:
            raise RuntimeError(f"{name} needs a finished {STAGES[position - 1]} stage in {before}")
    if name == "select":
        select.check_ranked_sets(config.output, previous["counts"], config.select)
    print(f"voxsift: {name} …", file=sys.stderr, flush=True)
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
    with prepared(config, beam_args, curating=True, training=True) as prints:
        return _run_all(config, beam_args, resume, prints)


def _run_all(
    config: RunConfig, beam_args: list[str], resume: bool, prints: dict[str, str]
) -> dict[str, Any]:
    results = {name: _run_stage(name, config, beam_args, resume, prints) for name in STAGES}
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
    """The train stage (skipped on --resume when finished); returns the headline figures."""
    return train_stage.run(config, resume)


def _versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["python"] = sys.version.split()[0]
    return versions
