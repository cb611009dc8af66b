"""The select stage: segments/*.parquet → selection/*.parquet, one row per segment.

Filters run per record; ranking and the budget need every candidate at once, so the (slim)
candidates are gathered into one list, scored by the configured method and cut to the budget.
Every segment gets a row: selected, filtered with a reason, over budget, or part of the target set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from voxsift import io
from voxsift.config import RunConfig
from voxsift.schema import SEGMENT_METADATA_COLUMNS, SELECTION_SCHEMA
from voxsift.selectors.budget import within_budget
from voxsift.selectors.filters import filter_reason
from voxsift.selectors.methods import score
from voxsift.selectors.settings import SelectSettings

STAGE = "select"
_NAMESPACE = f"voxsift.{STAGE}"
_DECIDED = "decided"
CANDIDATE_FIELDS = ("key", "duration", "confidence", "embedding")
"""What ranking methods may read; the rest of a row stays behind to keep the gather small."""


def selection_row(row: dict[str, Any], settings: SelectSettings, **values: Any) -> dict[str, Any]:
    base = {
        "key": row["key"],
        "role": row["role"],
        "duration": row["duration"],
        "method": settings.method,
        "weight": 1.0,
        "score": None,
        "rank": None,
    }
    return {**base, **values}


class Judge(beam.DoFn):
    """Segment row → a slim candidate, or a finished selection row on the ``decided`` output."""

    def __init__(self, settings: SelectSettings):
        self._settings = settings
        self._segments = Metrics.counter(_NAMESPACE, "segments")

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        self._segments.inc()
        if row["role"] == "target":
            picked = self._settings.include_target
            reason = "target_set" if picked else "target_not_included"
            yield beam.pvalue.TaggedOutput(
                _DECIDED, selection_row(row, self._settings, selected=picked, reason=reason)
            )
            return
        reason = filter_reason(row, self._settings)
        if reason is not None:
            yield beam.pvalue.TaggedOutput(
                _DECIDED, selection_row(row, self._settings, selected=False, reason=reason)
            )
            return
        yield {name: row.get(name) for name in (*CANDIDATE_FIELDS, "role")}


def choose(candidates: list[dict[str, Any]], settings: SelectSettings) -> Iterator[dict[str, Any]]:
    """Score every candidate, rank by (score, key) and cut to the budget."""
    if not candidates:
        return
    scores = score(settings.method, candidates, settings.seed)
    order = sorted(range(len(candidates)), key=lambda i: (scores[i], candidates[i]["key"]))
    durations = [candidates[i]["duration"] for i in order]
    chosen = within_budget(durations, settings.budget_hours, settings.budget_count)
    for rank, (index, picked) in enumerate(zip(order, chosen, strict=True)):
        yield selection_row(
            candidates[index],
            settings,
            selected=picked,
            reason="selected" if picked else "over_budget",
            score=float(scores[index]),
            rank=rank,
        )


def build(pipeline: beam.Pipeline, config: RunConfig) -> None:
    settings = config.select
    judged = (
        pipeline
        | "ReadSegments"
        >> beam.io.ReadFromParquet(
            io.join(config.output, "segments", "*.parquet"), columns=SEGMENT_METADATA_COLUMNS
        )
        | "Filter" >> beam.ParDo(Judge(settings)).with_outputs(_DECIDED, main="candidates")
    )
    ranked = (
        judged.candidates
        | "Gather" >> beam.combiners.ToList()
        | "Rank" >> beam.FlatMap(choose, settings)
    )
    _ = (
        (judged[_DECIDED], ranked)
        | "AllRows" >> beam.Flatten()
        | "WriteSelection"
        >> beam.io.WriteToParquet(
            io.join(config.output, "selection", "part"),
            SELECTION_SCHEMA,
            file_name_suffix=".parquet",
        )
    )


def count(output: str, counters: dict[str, int]) -> dict[str, Any]:
    table = io.read_parquet(
        io.join(output, "selection", "*.parquet"), ["selected", "reason", "duration"]
    )
    reasons = table["reason"].to_pylist()
    selected = [
        d
        for d, s in zip(table["duration"].to_pylist(), table["selected"].to_pylist(), strict=True)
        if s
    ]
    return {
        "segments": counters.get("segments", 0),
        "rows": table.num_rows,
        "selected": len(selected),
        "selected_seconds": round(sum(selected), 3),
        "by_reason": {r: reasons.count(r) for r in sorted(set(reasons))},
    }


def check(counts: dict[str, Any]) -> list[str]:
    if counts["segments"] != counts["rows"]:
        return ["select: segments read != selection rows written"]
    return []
