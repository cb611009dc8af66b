"""Running one stage as a Beam pipeline: clean start, counters, the ``_SUCCESS`` marker, resume.

A stage owns one folder under the run output. It starts by clearing that folder (stale files of
an earlier, interrupted attempt must never mix with new ones; only a folder carrying voxsift's
own marker is ever removed, see :mod:`voxsift.pipelines.workspace`), runs its pipeline, counts,
checks that the counts add up, and writes ``_SUCCESS`` last. The marker holds a fingerprint of the
config and inputs the stage ran on; ``--resume`` skips a stage only when that fingerprint matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from voxsift import io
from voxsift.pipelines import workspace
from voxsift.progress import is_local

log = logging.getLogger(__name__)
MARKER = "_SUCCESS"


class AccountingError(RuntimeError):
    """A stage's counts do not add up: something was lost or duplicated."""


@dataclass(frozen=True)
class StageResult:
    name: str
    counts: dict[str, Any]
    seconds: float
    skipped: bool


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (config sections, input listings, upstream markers)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_marker(folder: str) -> dict[str, Any] | None:
    path = io.join(folder, MARKER)
    return io.read_json(path) if io.exists(path) else None


def counters(result: beam.runners.runner.PipelineResult, namespace: str) -> dict[str, int]:
    """Committed counter values of a namespace and its sub-namespaces, summed over steps.

    ``voxsift.curate``'s own counters keep their names; those of ``voxsift.curate.label`` come
    back as ``label.<name>``.
    """
    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        space = counter.key.metric.namespace
        if space != namespace and not space.startswith(namespace + "."):
            continue
        prefix = space.removeprefix(namespace).lstrip(".")
        name = f"{prefix}.{counter.key.metric.name}" if prefix else counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + value
    return totals


def _clear(folders: list[str], name: str) -> None:
    """The earlier output goes; on a remote runner this happens right after the job is accepted,
    before its workers start (minutes on Dataflow) and so before they write anything."""
    for folder in folders:
        workspace.clear_stage_folder(folder, name)


def run_stage(
    name: str,
    folders: list[str],
    print_: str,
    build: Callable[[beam.Pipeline], None],
    count: Callable[[dict[str, int]], dict[str, Any]],
    check: Callable[[dict[str, Any]], list[str]],
    beam_args: list[str],
    resume: bool,
) -> StageResult:
    """Run (or, on resume with a matching marker, skip) one stage.

    ``folders`` are the stage's outputs (the marker goes in the first); ``print_`` its fingerprint.
    """
    marker = read_marker(folders[0])
    if resume and marker and marker.get("fingerprint") == print_:
        log.info("%s: finished earlier with the same config and inputs, skipping", name)
        return StageResult(name, marker["counts"], marker["seconds"], skipped=True)
    for folder in folders:
        workspace.check_stage_folder(folder, name)
    local = is_local(beam_args)
    if local:  # the local runner has finished the whole pipeline when run() returns
        _clear(folders, name)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build(pipeline)
    result = pipeline.run()
    if not local:  # a remote runner has only accepted the job: a refused one deletes nothing
        _clear(folders, name)
    result.wait_until_finish()
    counts = count(counters(result, f"voxsift.{name}"))
    problems = check(counts)
    if problems:
        raise AccountingError("; ".join(problems) + f" — counts: {counts}")
    seconds = round(time.monotonic() - started, 2)
    io.write_json_atomic(
        io.join(folders[0], MARKER),
        {"stage": name, "fingerprint": print_, "counts": counts, "seconds": seconds},
    )
    return StageResult(name, counts, seconds, skipped=False)
