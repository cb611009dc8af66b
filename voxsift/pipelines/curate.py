"""The curate stage: inputs → segments/*.parquet and rejects/*.parquet.

Expand manifests and globs into one item per file, spread them over workers, decode and segment
each file, run the configured per-segment steps, and write Parquet. Every input ends either as
segments or as a reject row; the counts are checked after the run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from voxsift import audio, audiostream, io
from voxsift.config import RunConfig
from voxsift.errors import InputError
from voxsift.pipelines.teacher_figures import teacher_figures
from voxsift.progress import ProgressSink
from voxsift.schema import (
    REJECT_SCHEMA,
    SAMPLE_RATE,
    SEGMENT_SCHEMA,
    Reject,
    Segment,
    segment_key,
)
from voxsift.transforms.ingest import (
    REJECTS,
    STAGE,
    ExpandInputs,
    InputItem,
    check_text,
    keep_first_listing,
    read_sidecar,
)
from voxsift.transforms.segment import (
    StreamingSegmenter,
    VadSegmenter,
    plan_segments,
    speech_ratio,
)
from voxsift.transforms.settings import IngestSettings, LoudnessSettings, SegmentSettings
from voxsift.transforms.steps import CURATE_STEPS

_NAMESPACE = f"voxsift.{STAGE}"
_ROWS_PER_BATCH = 64
"""Rows buffered per Arrow batch: segments carry audio, so keep write batches small."""


class SegmentFiles(beam.DoFn):
    """InputItem → loudness-normalized Segments, or one reject row saying why the file failed."""

    def __init__(
        self,
        ingest: IngestSettings,
        segment: SegmentSettings,
        loudness: LoudnessSettings,
        progress: ProgressSink,
    ):
        self._ingest = ingest
        self._progress = progress
        self._settings = segment
        self._loudness = loudness
        self._segmented = Metrics.counter(_NAMESPACE, "inputs_segmented")
        self._made = Metrics.counter(_NAMESPACE, "segments_made")
        self._too_short = Metrics.counter(_NAMESPACE, "segments_too_short")
        self._vad: VadSegmenter | None = None

    def setup(self) -> None:
        import torch

        torch.set_num_threads(1)
        self._vad = VadSegmenter(self._settings)

    def process(self, item: InputItem) -> Iterator[Any]:
        made, seconds = 0, 0.0
        try:
            for segment in self._segment(item):
                made, seconds = made + 1, seconds + segment.duration
                yield segment
        except InputError as error:
            yield beam.pvalue.TaggedOutput(
                REJECTS, Reject(STAGE, item.role, item.source, error.reason, str(error))
            )
        else:
            self._segmented.inc()
        finally:
            self._made.inc(made)
            self._progress.add(1, seconds)

    def finish_bundle(self) -> None:
        self._progress.flush()

    def _segment(self, item: InputItem) -> Iterator[Segment]:
        """A short file is decoded whole and segmented at once; a long one is streamed.

        Only a regular file is read (a FIFO, a device or a symlink loop is rejected for what it
        is). A header that leaves the length unknown is answered by decoding the file once,
        block by block, before choosing.
        """
        text = _transcript(item, self._ingest)
        if item.look_for_sidecar:
            check_text(text, self._ingest)
        size = io.input_size(item.source)
        if not size:
            raise InputError("empty_file", "the file has zero bytes")
        opener = functools.partial(io.open_input, item.source)
        seconds = audiostream.header_seconds(opener)
        if seconds is None:
            seconds = audiostream.validate(opener)
        if seconds > self._settings.stream_window_seconds:
            yield from self._stream(item, opener, size, text)
            return
        data = _read_source(item.source, size)
        yield from self._whole(item, audio.load_mono_16k(data)[0], text)

    def _whole(self, item: InputItem, samples: np.ndarray, text: str | None) -> list[Segment]:
        regions = self._vad.regions(samples)
        if not regions:
            raise InputError("no_speech", "silero-vad found no speech in the file")
        plan = plan_segments(regions, text is not None, self._settings)
        self._too_short.inc(plan.dropped_short)
        if not plan.spans:
            raise _too_short(self._settings)
        status = "reference" if plan.keeps_text else ("dropped_split" if text else "none")
        return [
            self._make_segment(item, samples[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)],
                               (s, e), speech_ratio(regions, (s, e)), text, status)
            for s, e in plan.spans
        ]  # fmt: skip

    def _stream(self, item, opener, size: int, text: str | None) -> Iterator[Segment]:
        """Validate the whole file first, so a file corrupt near its end is rejected whole."""
        audiostream.validate(opener)
        if io.input_size(item.source) != size:
            raise InputError("changed_while_reading", "the file's size changed while it was read")
        segmenter = StreamingSegmenter(
            self._vad, self._settings, self._settings.stream_window_seconds
        )
        status = "dropped_split" if text else "none"
        blocks = audiostream.stream_mono_16k(opener)
        made = 0
        for span, piece, ratio in segmenter.segments(blocks):
            made += 1
            yield self._make_segment(item, piece, span, ratio, text, status)
        self._too_short.inc(segmenter.dropped_short)
        if not segmenter.saw_speech:
            raise InputError("no_speech", "silero-vad found no speech in the file")
        if not made:
            raise _too_short(self._settings)

    def _make_segment(self, item, piece, span, ratio, text, status) -> Segment:
        start, end = round(span[0], 3), round(span[1], 3)
        lufs, gain = audio.loudness_lufs(piece), 0.0
        if self._loudness.enabled:
            piece, lufs, gain = audio.normalize_loudness(
                piece, self._loudness.target_lufs, self._loudness.max_gain_db
            )
        return Segment(
            key=segment_key(item.source, start, end),
            role=item.role,
            source=item.source,
            start=start,
            end=end,
            audio=piece,
            text=text if status == "reference" else None,
            text_status=status,
            language=item.language,
            speaker=item.speaker,
            metadata=item.metadata,
        ).with_fields(
            loudness_lufs=lufs if lufs > -200 else None,
            gain_db=gain,
            speech_ratio=ratio,
        )


def _too_short(settings: SegmentSettings) -> InputError:
    return InputError("too_short", f"no speech span reaches min_seconds={settings.min_seconds}")


def _read_source(source: str, expected: int) -> bytes:
    """The file's bytes, never more than one past ``expected``; a file whose size changes while
    it is read is refused, not half-used."""
    try:
        data = io.read_input(source, expected)
    except OSError as error:
        raise InputError("unreadable", f"cannot read the file: {error}") from error
    if len(data) != expected or io.input_size(source) != expected:
        raise InputError("changed_while_reading", "the file's size changed while it was read")
    return data


def _transcript(item: InputItem, settings: IngestSettings) -> str | None:
    """The manifest's text or the sidecar's, stripped; blank counts as none."""
    text = read_sidecar(item.source, settings) if item.look_for_sidecar else item.text
    return text.strip() or None if text is not None else None


def encode_segment(segment: Segment) -> dict[str, Any]:
    return segment.to_row(audio.encode_flac(segment.audio))


def build(
    pipeline: beam.Pipeline,
    config: RunConfig,
    steps: list[tuple[str, Any]],
    progress: ProgressSink,
) -> None:
    """Add the curate stage to ``pipeline``; ``steps`` are (name, PTransform) segment steps."""
    specs = [("pool", spec, i) for i, spec in enumerate(config.input)]
    specs += [("target", spec, i) for i, spec in enumerate(config.target)]
    expanded = (
        pipeline
        | "Inputs" >> beam.Create(specs)
        | "Expand" >> beam.ParDo(ExpandInputs(config.ingest)).with_outputs(REJECTS, main="items")
    )
    unique = (
        expanded.items
        | "BySource" >> beam.Map(lambda item: (item.source, item))
        | "GroupListings" >> beam.GroupByKey()
        | "KeepFirst" >> beam.FlatMap(keep_first_listing).with_outputs(REJECTS, main="items")
    )
    segmented = unique.items | "Segment" >> beam.ParDo(
        SegmentFiles(config.ingest, config.segment, config.loudness, progress)
    ).with_outputs(REJECTS, main="segments")
    segments = segmented.segments
    rejects = [expanded[REJECTS], unique[REJECTS], segmented[REJECTS]]
    for name, step in steps:
        outputs = segments | name >> step
        segments = outputs["segments"]
        rejects.append(outputs["rejects"])
    _ = (
        segments
        | "EncodeSegments" >> beam.Map(encode_segment)
        | "WriteSegments" >> _parquet(io.join(config.output, "segments", "part"), SEGMENT_SCHEMA)
    )
    _ = (
        rejects
        | "AllRejects" >> beam.Flatten()
        | "RejectRows" >> beam.Map(Reject.to_row)
        | "WriteRejects" >> _parquet(io.join(config.output, "rejects", "part"), REJECT_SCHEMA)
    )


def _parquet(prefix: str, schema) -> beam.PTransform:
    return beam.io.WriteToParquet(
        prefix, schema, record_batch_size=_ROWS_PER_BATCH, file_name_suffix=".parquet"
    )


def count(output: str, counters: dict[str, int]) -> dict[str, Any]:
    """Stage counts from the written files and the Beam counters; they must add up."""
    segments = io.read_parquet(io.join(output, "segments", "*.parquet"), ["role", "duration"])
    rejects = io.read_parquet(io.join(output, "rejects", "*.parquet"), ["key", "reason"])
    whole_file = rejects.filter(rejects["key"].is_null())
    reasons = rejects["reason"].to_pylist()
    return {
        "inputs": counters.get("inputs", 0),
        "inputs_kept": counters.get("inputs_segmented", 0),
        "inputs_rejected": whole_file.num_rows,
        "segments_made": counters.get("segments_made", 0),
        "segments_kept": segments.num_rows,
        "segments_rejected": rejects.num_rows - whole_file.num_rows,
        "segments_too_short": counters.get("segments_too_short", 0),
        "seconds_kept": round(sum(segments["duration"].to_pylist()), 3),
        "target_segments": segments["role"].to_pylist().count("target"),
        "rejected_by_reason": {r: reasons.count(r) for r in sorted(set(reasons))},
        "steps": step_figures(counters),
        "teacher": teacher_figures(output),
    }


def _step_rank(step: str) -> tuple[int, str]:
    """The steps' order in the table (transforms/steps.py), then any other by name."""
    order = CURATE_STEPS.names()
    return (order.index(step) if step in order else len(order), step)


def step_figures(counters: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per curate step (``label.records`` ...): records, skipped, failures, seconds, RTF."""
    steps: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        step, _, counter = name.partition(".")
        if counter:
            steps.setdefault(step, {})[counter] = value
    figures = {}
    for step, values in sorted(steps.items(), key=lambda kv: _step_rank(kv[0])):
        audio_ms = values.get("audio_ms", 0)
        figures[step] = {
            "records": values.get("records", 0),
            "skipped": values.get("skipped", 0),
            "failures": values.get("failures", 0),
            "seconds": round(values.get("step_ms", 0) / 1000, 2),
            "real_time_factor": round(values["step_ms"] / audio_ms, 4) if audio_ms else None,
        }
    return figures


def check(counts: dict[str, Any]) -> list[str]:
    """Identities that must hold; each broken one is a message."""
    problems = []
    if counts["inputs"] != counts["inputs_kept"] + counts["inputs_rejected"]:
        problems.append("curate: inputs != inputs_kept + inputs_rejected")
    if counts["segments_made"] != counts["segments_kept"] + counts["segments_rejected"]:
        problems.append("curate: segments_made != segments_kept + segments_rejected")
    return problems
