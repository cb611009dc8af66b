"""The record contract between stages: Arrow schemas, the in-pipeline records and the stable key.

Every stage reads what earlier stages wrote through these schemas only. A stage adds columns, it
never renames or drops one; columns filled by later steps exist from the start as nulls so that
every Parquet file of a run has the same schema, whichever steps were switched on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

SAMPLE_RATE = 16_000
"""Every segment is mono float32 at this rate inside the pipeline and FLAC at this rate on disk."""

_BASE_SEGMENT_FIELDS = [
    pa.field("key", pa.string(), nullable=False),
    pa.field("role", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("start", pa.float64(), nullable=False),
    pa.field("end", pa.float64(), nullable=False),
    pa.field("duration", pa.float64(), nullable=False),
    pa.field("sample_rate", pa.int32(), nullable=False),
    pa.field("audio", pa.binary(), nullable=False),
    pa.field("audio_bytes", pa.int64(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("text_status", pa.string(), nullable=False),
    pa.field("language", pa.string()),
    pa.field("speaker", pa.string()),
    pa.field("metadata", pa.string(), nullable=False),
]

ADDED_SEGMENT_FIELDS = [
    # loudness normalization (curate)
    pa.field("loudness_lufs", pa.float64()),
    pa.field("gain_db", pa.float64()),
    # quality metrics
    pa.field("snr_est_db", pa.float64()),
    pa.field("clipping_ratio", pa.float64()),
    pa.field("speech_ratio", pa.float64()),
    pa.field("chars_per_second", pa.float64()),
    # enhancement and its quality gate
    pa.field("enhancement", pa.string()),
    pa.field("snr_before_db", pa.float64()),
    pa.field("snr_after_db", pa.float64()),
    # pseudo-labeling
    pa.field("pseudo_text", pa.string()),
    pa.field("confidence", pa.float64()),
    pa.field("word_confidences", pa.list_(pa.float32())),
    pa.field("teacher", pa.string()),
    pa.field("label_wer", pa.float64()),
    pa.field("avg_logprob", pa.float64()),
    pa.field("compression_ratio", pa.float64()),
    pa.field("no_speech_prob", pa.float64()),
    pa.field("detected_language", pa.string()),
    pa.field("language_probability", pa.float64()),
    pa.field("ngram_repeats", pa.int64()),
    # text normalization: the training target
    pa.field("norm_text", pa.string()),
    # embeddings for selection
    pa.field("embedding", pa.list_(pa.float32())),
    pa.field("embedding_kind", pa.string()),
]
"""Columns that curate steps fill in; null where a step did not run."""

SEGMENT_SCHEMA = pa.schema(_BASE_SEGMENT_FIELDS + ADDED_SEGMENT_FIELDS)
ADDED_FIELD_NAMES = frozenset(f.name for f in ADDED_SEGMENT_FIELDS)
SEGMENT_METADATA_COLUMNS = [f.name for f in SEGMENT_SCHEMA if f.name != "audio"]
"""Everything but the audio: what selection reads."""

REJECT_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("key", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=False),
    ]
)

SELECTION_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("selected", pa.bool_(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("duration", pa.float64(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("rank", pa.int64()),
        pa.field("matched_key", pa.string()),
        # the expected WER of the candidate's training text (0 for a reference transcript, the
        # calibrated teacher confidence for a pseudo-label); null where no candidate or no text
        pa.field("expected_wer", pa.float64()),
    ]
)
SELECTION_DIAGNOSTICS = "_diagnostics.json"
"""What select writes beside selection/*.parquet for the report: the fit, OT distances and the
composition. Underscored, so readers of the folder as a Parquet dataset skip it (like _SUCCESS)."""


def segment_key(source: str, start: float, end: float) -> str:
    """Stable key of a segment from its source URI and bounds (to the millisecond).

    Hex only, so it is a safe tar member stem and a webdataset ``__key__`` (which must hold no
    dot); the same file segmented the same way gets the same key on every rerun and runner.
    """
    digest = hashlib.sha256(f"{source}\x00{start:.3f}\x00{end:.3f}".encode()).hexdigest()
    return digest[:24]


def uniform_hash(seed: int, key: str, salt: str = "") -> float:
    """A uniform number in [0, 1) from (seed, key): the same on every runner and worker.

    Selection's random draws and the shard stage's order are keyed by it, so both reproduce.
    """
    digest = hashlib.sha256(f"{salt}{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Segment:
    """One segment inside the curate pipeline: audio as float32 at 16 kHz plus its columns.

    Records change by copy: steps call :meth:`with_fields` or :meth:`with_audio`.
    """

    key: str
    role: str
    source: str
    start: float
    end: float
    audio: np.ndarray
    text: str | None
    text_status: str
    language: str | None = None
    speaker: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def with_fields(self, **values: Any) -> Segment:
        """A copy with added columns; a name outside the schema is a programming error."""
        unknown = set(values) - ADDED_FIELD_NAMES
        if unknown:
            raise KeyError(f"not segment columns: {sorted(unknown)}")
        return dataclasses.replace(self, fields={**self.fields, **values})

    def with_audio(self, audio: np.ndarray) -> Segment:
        return dataclasses.replace(self, audio=np.ascontiguousarray(audio, dtype=np.float32))

    def to_row(self, flac: bytes) -> dict[str, Any]:
        """The Parquet row, with the audio already encoded as FLAC by the caller."""
        row = {name: None for name in ADDED_FIELD_NAMES}
        row.update(self.fields)
        row.update(
            key=self.key,
            role=self.role,
            source=self.source,
            start=self.start,
            end=self.end,
            duration=round(self.duration, 6),
            sample_rate=SAMPLE_RATE,
            audio=flac,
            audio_bytes=len(flac),
            text=self.text,
            text_status=self.text_status,
            language=self.language,
            speaker=self.speaker,
            metadata=json.dumps(dict(self.metadata), sort_keys=True, ensure_ascii=False),
        )
        return row


TEXT_COLUMNS = ("norm_text", "text", "pseudo_text")
"""Where a training text can come from, in order of preference."""


def floored_weight(value: float, floor: float, power: float) -> float:
    """A loss weight from a probability-like value (a confidence, an expected accuracy):
    ``floor + (1 - floor) * clip(value, 0, 1) ** power``, ``floor`` at 0, 1 at 1, never
    decreasing. Ask2Mask's scaling, shared by select's sample weights (``weight`` in a shard
    sample) and the trainer's word weights, so both read the same way."""
    clipped = min(max(float(value), 0.0), 1.0)
    return floor + (1.0 - floor) * clipped**power


def training_text(record: Mapping[str, Any] | Segment) -> str | None:
    """The text a sample trains on: the first non-blank of ``norm_text`` (the spoken-form
    target), ``text`` (the reference transcript) and ``pseudo_text`` (the teacher's label).

    ``record`` is a segment row or a :class:`Segment`. Before the normalize step, which fills
    ``norm_text`` from it, this is the written target that normalization starts from.
    """
    if isinstance(record, Segment):
        record = {**record.fields, "text": record.text}
    for column in TEXT_COLUMNS:
        value = record.get(column)
        if isinstance(value, str) and value.strip():
            return value
    return None


@dataclass(frozen=True)
class Reject:
    """An input or record that a stage could not use, kept with its reason and error text."""

    stage: str
    role: str
    source: str
    reason: str
    error: str
    key: str | None = None

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
