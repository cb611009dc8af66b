"""Gather what the report shows from a run folder: run.json, Parquet outputs, diagnostics, metrics.

Everything is read through :mod:`voxsift.io`, so a run on ``gs://`` reports like a local one. A
missing file or a column that a step did not fill gives ``None`` (or an empty list) here; the
renderer turns that into a one-line "not available" instead of failing. Audio and embeddings are
read only for the few rows shown, one file at a time, so the report stays cheap on a large run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from voxsift import io
from voxsift.schema import SELECTION_DIAGNOSTICS

SEGMENT_COLUMNS = [
    "key",
    "role",
    "duration",
    "text",
    "norm_text",
    "pseudo_text",
    "metadata",
    "enhancement",
    "snr_before_db",
    "snr_after_db",
    "confidence",
    "label_wer",
    "language",
    "detected_language",
]
SELECTION_COLUMNS = ["key", "selected", "reason", "score", "rank", "weight", "method"]
MAX_GROUP_VALUES = 12
"""A manifest field with more distinct values than this (a transcript, an id) is no grouping."""
READ_BATCH_ROWS = 256
"""Rows per batch when scanning for a few keys: bounds memory whatever the file size."""
TRAIN_FOLDERS = ("adapter", "train")
"""Where ``metrics.json`` lands when run.json does not say: train.output's default, and 'train'."""


@dataclass(frozen=True)
class RunData:
    """The run's outputs as the report needs them; ``None`` marks what the run did not produce."""

    out: str
    run: dict[str, Any] | None
    rejects: Counter
    rows: pa.Table | None
    diagnostics: dict[str, Any] | None
    training: dict[str, Any] | None


def read_table(pattern: str, columns: list[str]) -> pa.Table | None:
    """All files matching ``pattern`` as one table, or None when there are none."""
    try:
        return io.read_parquet(pattern, columns)
    except FileNotFoundError:
        return None


def read_json_if_present(path: str) -> Any:
    return io.read_json(path) if io.exists(path) else None


def read_rows(pattern: str, columns: list[str], keys: set[str]) -> pa.Table | None:
    """The rows of ``keys`` only, streamed in batches (audio and embeddings are large)."""
    wanted = pa.array(sorted(keys), pa.string())
    parts = []
    for path, _ in io.match(pattern):
        with io.open_read(path) as handle, pq.ParquetFile(handle) as parquet:
            for batch in parquet.iter_batches(READ_BATCH_ROWS, columns=columns):
                rows = pa.Table.from_batches([batch])
                parts.append(rows.filter(pc.is_in(rows["key"], value_set=wanted)))
    return pa.concat_tables(parts) if parts else None


def gather(out: str) -> RunData:
    """Read every source the report draws on."""
    run = read_json_if_present(io.join(out, "run.json"))
    return RunData(
        out=out,
        run=run,
        rejects=reject_counts(out),
        rows=joined_rows(out),
        diagnostics=selection_diagnostics(out, run),
        training=training_metrics(out, run),
    )


def reject_counts(out: str) -> Counter:
    """(stage, reason) → number of reject rows."""
    table = read_table(io.join(out, "rejects", "*.parquet"), ["stage", "reason"])
    if table is None:
        return Counter()
    pairs = zip(table["stage"].to_pylist(), table["reason"].to_pylist(), strict=True)
    return Counter(pairs)


def joined_rows(out: str) -> pa.Table | None:
    """Segment columns (no audio, no embedding) with each segment's selection row joined on."""
    segments = read_table(io.join(out, "segments", "*.parquet"), SEGMENT_COLUMNS)
    if segments is None:
        return None
    selection = read_table(io.join(out, "selection", "*.parquet"), SELECTION_COLUMNS)
    if selection is None:
        for name in SELECTION_COLUMNS[1:]:
            segments = segments.append_column(name, pa.nulls(segments.num_rows))
        return segments.sort_by("key")
    return segments.join(selection, "key", join_type="left outer").sort_by("key")


def selection_diagnostics(out: str, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The select stage's diagnostics: from run.json's counts, else the file select wrote."""
    counts = stage_counts(run).get("select") or {}
    if counts.get("diagnostics"):
        return counts["diagnostics"]
    return read_json_if_present(io.join(out, "selection", SELECTION_DIAGNOSTICS))


def training_metrics(out: str, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """metrics.json of the train step, where the run's config (or the default) puts it."""
    configured = ((run or {}).get("config") or {}).get("train") or {}
    folders = [configured.get("output"), *TRAIN_FOLDERS]
    for folder in dict.fromkeys(f for f in folders if f):
        metrics = read_json_if_present(io.join(out, folder, "metrics.json"))
        if metrics is not None:
            return metrics
    return None


def stage_counts(run: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Stage name → its counts, in run order; empty without run.json."""
    stages = (run or {}).get("stages") or {}
    return {name: stage.get("counts") or {} for name, stage in stages.items()}


def numbers(table: pa.Table, column: str) -> np.ndarray:
    """A column as float64 with NaN for nulls (and for a column the table lacks)."""
    if column not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(table[column].to_pylist(), dtype=np.float64)


def flags(table: pa.Table, column: str) -> np.ndarray:
    """A boolean column with nulls as False."""
    return np.asarray([bool(v) for v in table[column].to_pylist()], dtype=bool)


def category_order(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order first (an SNR of 5 before 10), then names alphabetically."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def metadata_fields(table: pa.Table) -> list[dict[str, Any]]:
    return [json.loads(text or "{}") for text in table["metadata"].to_pylist()]


def grouping_fields(metadata: list[dict[str, Any]]) -> list[str]:
    """Manifest fields that group the pool: scalar, with 2 to MAX_GROUP_VALUES distinct values
    that repeat (at most one per two rows, so a transcript or an id never counts)."""
    values: dict[str, set[Any]] = {}
    for fields in metadata:
        for name, value in fields.items():
            if isinstance(value, str | bool | int | float):
                values.setdefault(name, set()).add(value)
    limit = min(MAX_GROUP_VALUES, len(metadata) // 2)
    return sorted(n for n, seen in values.items() if 2 <= len(seen) <= limit)


def embedding_sample(out: str, rows: pa.Table, per_role: int) -> dict[str, np.ndarray] | None:
    """Embeddings of pool, target and selected, each capped at ``per_role`` rows.

    Keys are hash prefixes, so the smallest keys are a uniform sample, the same on every rerun.
    """
    roles = rows["role"].to_pylist()
    selected = flags(rows, "selected")
    groups = {"pool": [], "target": [], "selected": []}
    for key, role, picked in zip(rows["key"].to_pylist(), roles, selected, strict=True):
        groups[role if role in groups else "pool"].append(key)
        if picked and role == "pool":
            groups["selected"].append(key)
    chosen = {name: sorted(keys)[:per_role] for name, keys in groups.items()}
    wanted = set().union(*chosen.values())
    table = read_rows(io.join(out, "segments", "*.parquet"), ["key", "embedding"], wanted)
    if table is None:
        return None
    vectors = {
        k: v
        for k, v in zip(table["key"].to_pylist(), table["embedding"].to_pylist(), strict=True)
        if v
    }
    if not vectors:
        return None
    width = Counter(len(v) for v in vectors.values()).most_common(1)[0][0]
    sample = {
        name: np.asarray([vectors[k] for k in keys if len(vectors.get(k) or ()) == width])
        for name, keys in chosen.items()
    }
    return {name: matrix for name, matrix in sample.items() if len(matrix)}


def pca_2d(groups: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Project every group on the first two principal axes of their union (numpy SVD).

    Returns the 2-D points per group and the explained variance ratio of the two axes.
    """
    union = np.concatenate(list(groups.values())).astype(np.float64)
    mean = union.mean(axis=0)
    _, singular, found = np.linalg.svd(union - mean, full_matrices=False)
    axes, ratio = np.zeros((2, union.shape[1])), np.zeros(2)
    kept = min(2, len(found))
    axes[:kept] = found[:kept]
    variance = singular**2
    if variance.sum() > 0:
        ratio[:kept] = variance[:kept] / variance.sum()
    points = {name: (m.astype(np.float64) - mean) @ axes.T for name, m in groups.items()}
    return points, ratio


def audio_of(out: str, keys: list[str]) -> dict[str, bytes]:
    """FLAC bytes of a few segments, by key."""
    table = read_rows(io.join(out, "segments", "*.parquet"), ["key", "audio"], set(keys))
    if table is None:
        return {}
    return dict(zip(table["key"].to_pylist(), table["audio"].to_pylist(), strict=True))


def role_masks(rows: pa.Table) -> dict[str, np.ndarray]:
    """Row masks of pool, target and the selected part of the pool."""
    roles = np.asarray(rows["role"].to_pylist())
    pool = roles == "pool"
    selected = pool & flags(rows, "selected")
    return {"pool": pool, "target": roles == "target", "selected": selected}


def mean_of(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None
