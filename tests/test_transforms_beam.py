"""The shared machinery of curate steps in a Beam pipeline: fallback, rejects, routing, metrics.

Also home of :func:`run_steps`, :func:`make_segment` and :func:`step_sections`, which the other
transforms tests import (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import base64
import glob
import pickle
from pathlib import Path
from types import SimpleNamespace

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter

from voxsift.schema import SAMPLE_RATE, Segment, segment_key
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.label import LabelHandler, Teacher, Transcript
from voxsift.transforms.settings import EmbedSettings, LabelSettings
from voxsift.transforms.steps import sections


def step_sections(**given) -> SimpleNamespace:
    """Every curate step's section at its defaults, embed off, overridden by ``given``: what
    ``steps.curate_steps`` reads from a run config."""
    defaults = {name: section() for name, section in sections()}
    return SimpleNamespace(**{**defaults, "embed": EmbedSettings(kinds=[]), **given})


def make_segment(name: str, audio: np.ndarray, text: str | None = None) -> Segment:
    end = len(audio) / SAMPLE_RATE
    return Segment(segment_key(name, 0.0, end), "pool", name, 0.0, end, audio, text, "ok")


def _dump(pcoll: beam.PCollection, prefix: Path, label: str) -> None:
    _ = (
        pcoll
        | f"Pickle{label}" >> beam.Map(lambda x: base64.b64encode(pickle.dumps(x)).decode())
        | f"Write{label}" >> beam.io.WriteToText(str(prefix))
    )


def _load(prefix: Path) -> list:
    rows = []
    for path in sorted(glob.glob(f"{prefix}*")):
        rows += [pickle.loads(base64.b64decode(line)) for line in Path(path).read_text().split()]
    return rows


def run_steps(steps, segments, tmp_path: Path):
    """Chain (name, step) pairs on the DirectRunner; return kept segments, rejects and metrics."""
    pipeline = beam.Pipeline()
    current = pipeline | "Create" >> beam.Create(segments)
    rejects = []
    for name, step in steps:
        outputs = current | name >> step
        current = outputs["segments"]
        rejects.append(outputs["rejects"])
    _dump(current, tmp_path / "segments", "Segments")
    _dump(rejects | "AllRejects" >> beam.Flatten(), tmp_path / "rejects", "Rejects")
    result = pipeline.run()
    result.wait_until_finish()
    kept = sorted(_load(tmp_path / "segments"), key=lambda s: s.source)
    return kept, _load(tmp_path / "rejects"), result.metrics()


def counter(metrics, namespace: str, name: str) -> int:
    found = metrics.query(MetricsFilter().with_namespace(namespace).with_name(name))["counters"]
    return sum(c.committed for c in found)


class _PickyTeacher(Teacher):
    """Fails on audio that holds a NaN, as a teacher would on a corrupt record."""

    def transcribe(self, batch):
        if any(np.isnan(audio).any() for audio in batch):
            raise ValueError("audio holds NaN")
        return [Transcript("hello world", 0.9, [0.8, 1.0]) for _ in batch]


class _PickyLabeler(LabelHandler):
    def load_model(self) -> Teacher:
        return _PickyTeacher()


def test_a_failing_record_is_rejected_alone_and_counted(tmp_path):
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    bad = audio.copy()
    bad[10] = np.nan
    segments = [
        make_segment("a", audio),
        make_segment("b", bad),
        make_segment("c", audio),
        make_segment("d", audio, text="already transcribed"),
    ]
    settings = LabelSettings(batch_size=3)
    step = CurateStep(_PickyLabeler(settings))
    kept, rejects, metrics = run_steps([("label", step)], segments, tmp_path)

    assert [s.source for s in kept] == ["a", "c", "d"]
    assert kept[0].fields["pseudo_text"] == "hello world"
    assert kept[0].fields["word_confidences"] == [0.8, 1.0]
    assert "pseudo_text" not in kept[2].fields  # transcribed and not relabeled: passed by
    assert len(rejects) == 1
    reject = rejects[0]
    assert (reject.stage, reject.reason, reject.source) == ("curate", "label_failed", "b")
    assert reject.key == segments[1].key and "audio holds NaN" in reject.error
    namespace = "voxsift.curate.label"
    assert counter(metrics, namespace, "records") == 3
    assert counter(metrics, namespace, "failures") == 1
    assert counter(metrics, namespace, "skipped") == 1
    assert counter(metrics, namespace, "batch_fallbacks") == 1
    assert counter(metrics, namespace, "audio_ms") == 3000


class _LossyLabeler(LabelHandler):
    """Breaks the handler contract (records out != records in), which no fallback can repair."""

    def load_model(self) -> Teacher:
        return _PickyTeacher()

    def process_batch(self, batch, model):
        return []


def test_a_batch_that_escapes_the_fallback_becomes_rejects(tmp_path):
    segments = [make_segment(name, np.zeros(800, dtype=np.float32)) for name in ("a", "b")]
    step = CurateStep(_LossyLabeler(LabelSettings(batch_size=2)))
    kept, rejects, _ = run_steps([("label", step)], segments, tmp_path)

    assert kept == []
    assert sorted((r.source, r.reason) for r in rejects) == [
        ("a", "label_failed"),
        ("b", "label_failed"),
    ]
    assert "returned 0 records for 2" in rejects[0].error


class _SmallBatchTeacher(Teacher):
    """Fails any batch larger than two clips, so an oversized batch shows up as rejects."""

    def transcribe(self, batch):
        if len(batch) > 2:
            raise ValueError(f"batch of {len(batch)} clips, at most 2 expected")
        return [Transcript("hi", 0.5, [0.5]) for _ in batch]


class _SmallBatchLabeler(LabelHandler):
    def load_model(self) -> Teacher:
        return _SmallBatchTeacher()


def test_passed_by_segments_ride_along_without_enlarging_model_batches(tmp_path):
    audio = np.zeros(SAMPLE_RATE // 4, dtype=np.float32)
    segments = [
        make_segment(f"s{i:02d}", audio, text="known" if i % 3 else None) for i in range(30)
    ]
    step = CurateStep(_SmallBatchLabeler(LabelSettings(batch_size=2)))
    kept, rejects, metrics = run_steps([("label", step)], segments, tmp_path)

    assert rejects == [] and len(kept) == 30
    labeled = [s.source for s in kept if "pseudo_text" in s.fields]
    assert labeled == [f"s{i:02d}" for i in range(0, 30, 3)]
    namespace = "voxsift.curate.label"
    assert counter(metrics, namespace, "records") == 10
    assert counter(metrics, namespace, "skipped") == 20
    assert counter(metrics, namespace, "batch_fallbacks") == 0


def test_curate_steps_stay_in_one_fused_stage_on_the_local_runner(tmp_path):
    """No step may make the in-memory runner hold every segment between two stages."""
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from voxsift.config import parse_config
    from voxsift.pipelines import curate
    from voxsift.progress import ProgressSink
    from voxsift.transforms.steps import curate_steps

    config = parse_config(
        {
            "input": [str(tmp_path / "pool.jsonl")],
            "target": [str(tmp_path / "target.jsonl")],
            "output": str(tmp_path / "out"),
            "enhance": {"method": "rnnoise"},
            "label": {"teacher": "pocketsphinx"},
            "embed": {"kinds": ["acoustic", "text"]},
        }
    )
    pipeline = beam.Pipeline()
    curate.build(pipeline, config, curate_steps(config), ProgressSink())
    _, stages = FnApiRunner().create_stages(pipeline.to_runner_api())
    names = [{t.unique_name for t in stage.transforms} for stage in stages]
    segmenting = next(n for n in names if "Segment/ParDo(SegmentFiles)" in n)
    for step in ("enhance", "label", "normalize", "quality", "embed/Kind1"):
        assert any(name.startswith(f"{step}/") for name in segmenting), step
    assert "EncodeSegments" in segmenting
