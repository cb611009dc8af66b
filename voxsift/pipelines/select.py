"""The select stage: segments/*.parquet → selection/*.parquet, one row per segment.

Hard filters run per record, and every segment with a teacher confidence and a label WER (pool
or target, filtered or not) sends a (key, confidence, label WER) pair aside. A reference is
fitted once from the target set, a hash-ordered sample of the pool and those pairs (k-means
cells, the method's model, e.g. GOT-D's target potential, the calibration of the confidence, the
pool sample's scores for label-aware ranking) and reaches every worker as a side input.
Candidates are grouped by cell; each group gets the expected WER of its training texts and its
final weights, is decontaminated against the target and evaluation sets, de-duplicated and
scored, so scoring spreads over workers while a group's arithmetic never depends on the runner.
Only (key, duration, scores, weight, expected WER) is gathered to rank and cut to the budget.
Every segment gets a row: selected, over budget, filtered with a reason (and the key it matched,
for copies), or part of the target set. ``_diagnostics.json`` beside the rows holds the OT
distances, the composition and the calibration, and lands in ``run.json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from voxsift import io
from voxsift.config import RunConfig
from voxsift.progress import ProgressSink
from voxsift.schema import (
    SEGMENT_METADATA_COLUMNS,
    SELECTION_DIAGNOSTICS,
    SELECTION_SCHEMA,
    training_text,
    uniform_hash,
)
from voxsift.selectors import diagnostics, label_risk
from voxsift.selectors.budget import within_budget
from voxsift.selectors.calibration import MAX_PAIRS, Calibration, pair_of, pair_order, text_source
from voxsift.selectors.confidence import above, final_weight, weight
from voxsift.selectors.dedup import drop_copies
from voxsift.selectors.filters import field_value, filter_reason
from voxsift.selectors.index import VectorIndex, math_threads
from voxsift.selectors.methods import Candidate, Reference, fit_reference, score
from voxsift.selectors.settings import SelectSettings

STAGE = "select"
_NAMESPACE = f"voxsift.{STAGE}"
_DECIDED, _TARGETS, _SUMMARY, _PAIRS = "decided", "targets", "summary", "pairs"


def selection_row(
    key: str, role: str, duration: float, settings: SelectSettings, **values: Any
) -> dict[str, Any]:
    base = {
        "key": key,
        "role": role,
        "duration": duration,
        "method": settings.method,
        "weight": 1.0,
        "score": None,
        "rank": None,
        "matched_key": None,
        "expected_wer": None,
    }
    return {**base, **values}


def to_candidate(row: dict[str, Any], settings: SelectSettings) -> Candidate:
    """The candidate of a segment row; its weight is phase one's (see confidence.py)."""
    group = field_value(row, settings.diagnostics_field) if settings.diagnostics_field else None
    embedding = row.get("embedding")
    return Candidate(
        key=row["key"],
        duration=row.get("duration") or 0.0,
        confidence=row.get("confidence"),
        weight=weight(row.get("confidence"), settings),
        has_text=training_text(row) is not None,
        group=None if group is None else str(group),
        embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
        text_source=text_source(row),
    )


def sample_order(seed: int):
    """Sort key of the hash-ordered pool sample: the same sample on every runner."""
    return lambda c: (uniform_hash(seed, c.key, "sample"), c.key)


class Judge(beam.DoFn):
    """Segment row → a candidate, a target embedding, or a finished row on ``decided``; and a
    calibration pair on ``pairs`` for every row with a confidence and a label WER."""

    def __init__(self, settings: SelectSettings, progress: ProgressSink):
        self._settings = settings
        self._progress = progress
        self._segments = Metrics.counter(_NAMESPACE, "segments")

    def finish_bundle(self) -> None:
        self._progress.flush()

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        self._segments.inc()
        self._progress.add(1, row["duration"])
        settings = self._settings
        pair = pair_of(row)
        if pair is not None:
            yield beam.pvalue.TaggedOutput(_PAIRS, pair)
        if row["role"] == "target":
            picked = settings.include_target
            reason = "target_set" if picked else "target_not_included"
            yield beam.pvalue.TaggedOutput(
                _DECIDED,
                selection_row(row["key"], "target", row["duration"], settings,
                              selected=picked, reason=reason),
            )  # fmt: skip
            yield beam.pvalue.TaggedOutput(_TARGETS, to_candidate(row, settings))
            return
        reason = filter_reason(row, settings)
        if reason is not None:
            yield beam.pvalue.TaggedOutput(
                _DECIDED,
                selection_row(row["key"], "pool", row["duration"], settings,
                              selected=False, reason=reason),
            )  # fmt: skip
            return
        yield to_candidate(row, settings)


class ScoreCell(beam.DoFn):
    """(cell, candidates) → too risky labels and copies dropped with their reason (and the key
    they matched), the rest scored; every candidate with its expected WER and final weight."""

    def __init__(self, settings: SelectSettings):
        self._settings = settings
        self._dropped = Metrics.counter(_NAMESPACE, "copies_dropped")
        self._risky = Metrics.counter(_NAMESPACE, "filtered_expected_wer")
        self._scored = Metrics.counter(_NAMESPACE, "candidates_scored")
        self._indexes: tuple[Reference, VectorIndex | None, VectorIndex | None] | None = None

    def _index(self, reference: Reference, which: int) -> VectorIndex | None:
        """The guard (1) or target (2) index, built once per worker and reference."""
        if self._indexes is None or self._indexes[0] is not reference:
            guard = VectorIndex(reference.guard) if len(reference.guard) else None
            targets = VectorIndex(reference.targets) if len(reference.targets) else None
            self._indexes = (reference, guard, targets)
        return self._indexes[which]

    def process(self, element: tuple[int, list[Candidate]], reference: Reference) -> Iterator:
        cell, members = element
        settings = self._settings
        members = labeled(members, reference.calibration, settings)
        members.sort(key=Candidate.preference)
        limit = settings.max_expected_wer
        risky = [m for m in members if above(m.expected_wer, limit)]
        members = [m for m in members if not above(m.expected_wer, limit)]
        with math_threads(settings.threads):
            guard = self._index(reference, 1)
            kept, dropped = drop_copies(members, guard, reference.guard_keys, settings)
            kept.sort(key=lambda c: c.key)
            raw = score(kept, cell, reference, settings, lambda: self._index(reference, 2))
        ranked = label_risk.ranking_scores(raw, kept, reference, settings)
        self._risky.inc(len(risky))
        self._dropped.inc(len(dropped))
        self._scored.inc(len(kept))
        dropped += [(m, "filtered_expected_wer", None) for m in risky]
        for candidate, reason, matched in sorted(dropped, key=lambda d: d[0].key):
            yield beam.pvalue.TaggedOutput(
                _DECIDED,
                selection_row(candidate.key, "pool", candidate.duration, settings, selected=False,
                              reason=reason, matched_key=matched, weight=candidate.weight,
                              expected_wer=candidate.expected_wer),
            )  # fmt: skip
        for candidate, value, plain in zip(kept, ranked, raw, strict=True):
            yield {"key": candidate.key, "duration": candidate.duration, "score": float(value),
                   "raw": float(plain), "weight": candidate.weight, "group": candidate.group,
                   "expected_wer": candidate.expected_wer}  # fmt: skip


def labeled(
    members: list[Candidate], calibration: Calibration, settings: SelectSettings
) -> list[Candidate]:
    """Phase two: each candidate with the expected WER of its training text and final weight."""
    out = []
    for member in members:
        expected = calibration.expected_wer(member)
        out.append(member.with_label(expected, final_weight(member.weight, expected, settings)))
    return out


def choose(scored: list[dict[str, Any]], settings: SelectSettings) -> Iterator[Any]:
    """Rank every scored candidate by (score, raw score, key), cut to the budget, summarize."""
    order = sorted(scored, key=lambda r: (r["score"], r["raw"], r["key"]))
    chosen = within_budget([r["duration"] for r in order], settings.budget_hours,
                           settings.budget_count)  # fmt: skip
    for rank, (row, picked) in enumerate(zip(order, chosen, strict=True)):
        yield selection_row(
            row["key"], "pool", row["duration"], settings, selected=picked,
            reason="selected" if picked else "over_budget", score=row["score"], rank=rank,
            weight=row["weight"], expected_wer=row["expected_wer"],
        )  # fmt: skip
    ranked = list(zip(order, chosen, strict=True))
    groups = [(row["group"], picked) for row, picked in ranked]
    summary = {
        "composition": diagnostics.composition(settings.diagnostics_field, groups),
        "mean_expected_wer": diagnostics.mean_expected_wer(
            (row["expected_wer"], picked) for row, picked in ranked
        ),
    }
    yield beam.pvalue.TaggedOutput(_SUMMARY, summary)


def fit_once(_, targets, guards, sample, pairs, settings: SelectSettings) -> Reference:
    """The reference every worker scores against, fitted with the stage's fixed thread count."""
    with math_threads(settings.threads):
        return fit_reference(targets, guards, sample, settings, pairs)


def diagnose(_, reference: Reference, chosen: list[Candidate], summary, settings, path: str):
    """Write _diagnostics.json: the fit, the OT distances, the composition, the calibration."""
    vectors = [c.embedding for c in chosen if c.embedding is not None]
    selected = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    with math_threads(settings.threads):
        distances = diagnostics.ot_report(reference, selected, settings)
    report = {
        "method": settings.method,
        "fit": diagnostics.fit_report(reference, settings),
        "ot": distances,
        "composition": summary["composition"],
        "calibration": {
            **reference.calibration.report(),
            "mean_expected_wer": summary["mean_expected_wer"],
        },
    }
    io.write_json_atomic(path, report)


def _guards(pipeline: beam.Pipeline, targets, settings: SelectSettings):
    """Target embeddings plus those of the evaluation sets named in ``decontaminate_with``."""
    reads = [
        pipeline
        | f"ReadEval{i}" >> beam.io.ReadFromParquet(glob, columns=["key", "duration", "embedding"])
        | f"EvalRows{i}" >> beam.Map(to_candidate, settings)
        for i, glob in enumerate(settings.decontaminate_with)
    ]
    return [targets, *reads] | "Guards" >> beam.Flatten()


def check_ranked_sets(output: str, curated: dict[str, Any], settings: SelectSettings) -> None:
    """Before any work: a method that ranks the pool against the target needs segments of both.

    Raises ValueError saying which side curate left empty and why (the reject reasons of that
    side's inputs), e.g. that every pool line named audio the target set already lists.
    """
    if not settings.ranking.needs_target:
        return
    kept = {"target": curated["target_segments"]}
    kept["pool"] = curated["segments_kept"] - kept["target"]
    empty = [role for role in ("pool", "target") if not kept[role]]
    if not empty:
        return
    role = empty[0]
    rejects = io.read_parquet(io.join(output, "rejects", "*.parquet"), ["role", "reason"])
    reasons = Counter(
        r
        for r, who in zip(rejects["reason"].to_pylist(), rejects["role"].to_pylist(), strict=True)
        if who == role
    )
    fix = f"select.method {settings.method!r} ranks pool segments against target segments"
    if reasons and set(reasons) == {"duplicate_input"} and role == "pool":
        raise ValueError(
            f"{fix}, but every pool line ({reasons['duplicate_input']}) was a duplicate of a "
            "target line (the target's listing wins): give the pool audio the target does not "
            "list, or set select.method: random"
        )
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none rejected"
    raise ValueError(f"{fix}, but curate kept no {role} segment ({role} rejects: {why})")


def build(pipeline: beam.Pipeline, config: RunConfig, progress: ProgressSink) -> None:
    settings = config.select
    folder = io.join(config.output, "selection")
    judged = (
        pipeline
        | "ReadSegments"
        >> beam.io.ReadFromParquet(
            io.join(config.output, "segments", "*.parquet"), columns=SEGMENT_METADATA_COLUMNS
        )
        | "Filter"
        >> beam.ParDo(Judge(settings, progress)).with_outputs(
            _DECIDED, _TARGETS, _PAIRS, main="kept"
        )
    )
    candidates, targets = judged.kept, judged[_TARGETS]
    sample_size = max(settings.ranking.pool_sample(settings), settings.diagnostics_sample)
    sample = candidates | "PoolSample" >> beam.combiners.Top.Smallest(
        sample_size, key=sample_order(settings.seed)
    )
    pairs = judged[_PAIRS] | "CalibrationPairs" >> beam.combiners.Top.Smallest(
        MAX_PAIRS, key=pair_order(settings.seed)
    )
    root = pipeline | "Once" >> beam.Create([None])
    reference = beam.pvalue.AsSingleton(
        root
        | "Fit"
        >> beam.Map(
            fit_once,
            beam.pvalue.AsList(targets),
            beam.pvalue.AsList(_guards(pipeline, targets, settings)),
            beam.pvalue.AsSingleton(sample),
            beam.pvalue.AsSingleton(pairs),
            settings,
        )
    )
    scored = (
        candidates
        | "AssignCells" >> beam.Map(lambda c, ref: (ref.cell(c.embedding), c), reference)
        | "GroupCells" >> beam.GroupByKey()
        | "ScoreCells"
        >> beam.ParDo(ScoreCell(settings), reference).with_outputs(_DECIDED, main="scored")
    )
    ranked = (
        scored.scored
        | "Gather" >> beam.combiners.ToList()
        | "Rank" >> beam.FlatMap(choose, settings).with_outputs(_SUMMARY, main="rows")
    )
    picked = (
        ranked.rows
        | "Picked" >> beam.Filter(lambda r: r["selected"])
        | beam.Map(lambda r: (r["key"], True))
    )
    chosen = (
        candidates
        | "SelectedOnly" >> beam.Filter(lambda c, keys: c.key in keys, beam.pvalue.AsDict(picked))
        | "SelectedSample"
        >> beam.combiners.Top.Smallest(settings.diagnostics_sample, key=sample_order(settings.seed))
    )
    _ = root | "Diagnose" >> beam.Map(
        diagnose, reference, beam.pvalue.AsSingleton(chosen),
        beam.pvalue.AsSingleton(ranked[_SUMMARY]), settings, io.join(folder, SELECTION_DIAGNOSTICS),
    )  # fmt: skip
    _ = (
        (judged[_DECIDED], scored[_DECIDED], ranked.rows)
        | "AllRows" >> beam.Flatten()
        | "WriteSelection"
        >> beam.io.WriteToParquet(
            io.join(folder, "part"), SELECTION_SCHEMA, file_name_suffix=".parquet"
        )
    )


def count(output: str, counters: dict[str, int]) -> dict[str, Any]:
    folder = io.join(output, "selection")
    table = io.read_parquet(io.join(folder, "*.parquet"), ["selected", "reason", "duration"])
    reasons = table["reason"].to_pylist()
    selected = [
        d
        for d, s in zip(table["duration"].to_pylist(), table["selected"].to_pylist(), strict=True)
        if s
    ]
    report = io.join(folder, SELECTION_DIAGNOSTICS)
    return {
        "segments": counters.get("segments", 0),
        "rows": table.num_rows,
        "selected": len(selected),
        "selected_seconds": round(sum(selected), 3),
        "by_reason": {r: reasons.count(r) for r in sorted(set(reasons))},
        "diagnostics": io.read_json(report) if io.exists(report) else None,
    }


def check(counts: dict[str, Any]) -> list[str]:
    if counts["segments"] != counts["rows"]:
        return ["select: segments read != selection rows written"]
    return []
