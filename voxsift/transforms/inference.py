"""The base every curate model step shares: RunInference, per-record failures, counts and time.

A concrete step is a :class:`SegmentHandler` that overrides ``load_model`` and ``process_batch``
(or ``process_one``); this module owns the rest. RunInference fails a whole batch when one record
raises, so a failed batch is retried record by record here and only the records that still fail
become rejects. :class:`CurateStep` wraps the handler into the PTransform the curate pipeline
chains: segments in, ``{"segments", "rejects"}`` out.

A step that applies to some segments only (``needs``) lets the others ride through its batches
unchanged instead of routing them around the model: a Flatten of two outputs of one fused stage
is not fused by Beam's in-memory runner, which would then hold every segment of the corpus, audio
included, between two stages. Batches are weighted so that each holds at most ``batch_size``
segments the model runs on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from voxsift.schema import SAMPLE_RATE, Reject, Segment

ModelT = TypeVar("ModelT")
NAMESPACE = "voxsift.curate"
_WORK_WEIGHT = 8
"""Batch weight of a segment the model runs on; one it passes by weighs 1."""


@dataclass(frozen=True)
class StepFailure:
    """The inference of a record that a step could not process: the exception text."""

    error: str


def describe(error: BaseException) -> str:
    """Exception text for a reject row: the type, so an empty message still says something."""
    return f"{type(error).__name__}: {error}"


class SegmentHandler(ModelHandler[Segment, Any, ModelT]):
    """A RunInference handler from segments to new segments, with counting and fallback.

    Subclasses set ``step`` (the metrics namespace suffix and reject reason prefix) and override
    ``process_batch`` for a truly batched model or ``process_one`` for one record at a time.
    ``needs`` picks the segments the model runs on (e.g. those without a transcript); the others
    pass unchanged and are counted as ``skipped``. With ``model_copies`` the model lives in a
    shared process and ``process_batch`` talks to it through a proxy: call its methods only.
    """

    step = "step"

    def __init__(
        self,
        batch_size: int,
        needs: Callable[[Segment], bool] | None = None,
        model_copies: int | None = None,
    ):
        # fixed-size batches: BatchElements would otherwise start at one record and grow by timing
        # model_copies set: Beam's large_model, the model shared by a worker's processes
        sharing = {"large_model": model_copies is not None, "model_copies": model_copies}
        if needs is None:
            super().__init__(min_batch_size=batch_size, max_batch_size=batch_size, **sharing)
        else:
            weight = batch_size * _WORK_WEIGHT
            super().__init__(
                min_batch_size=weight,
                max_batch_size=weight,
                element_size_fn=functools.partial(_batch_weight, needs),
                **sharing,
            )
        self._needs = needs

    @property
    def reason(self) -> str:
        return f"{self.step}_failed"

    def get_metrics_namespace(self) -> str:
        """RunInference's own metrics (batch sizes, latencies, model load) land here too."""
        return f"{NAMESPACE}.{self.step}"

    def get_num_bytes(self, batch: Sequence[Segment]) -> int:
        """The audio's size; Beam's default pickles the whole batch only to measure it."""
        return sum(segment.audio.nbytes for segment in batch)

    def process_one(self, segment: Segment, model: ModelT) -> Segment:
        raise NotImplementedError(type(self))

    def process_batch(self, batch: Sequence[Segment], model: ModelT) -> list[Segment]:
        return [self.process_one(segment, model) for segment in batch]

    def run_inference(
        self,
        batch: Sequence[Segment],
        model: ModelT,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        todo = [i for i, segment in enumerate(batch) if self._needs is None or self._needs(segment)]
        work = [batch[i] for i in todo]
        outputs: list[Segment | StepFailure] = list(batch)  # the others pass unchanged
        if work:
            started = time.perf_counter()
            done = self._batch_or_each(work, model)
            self._count(work, done, time.perf_counter() - started)
            for i, out in zip(todo, done, strict=True):
                outputs[i] = out
        if len(work) < len(batch):
            self.counter("skipped").inc(len(batch) - len(work))
        return [PredictionResult(segment, out) for segment, out in zip(batch, outputs, strict=True)]

    def _batch_or_each(
        self, batch: Sequence[Segment], model: ModelT
    ) -> list[Segment | StepFailure]:
        """The whole batch at once; if that raises, each record alone, so one bad record fails."""
        try:
            outputs = self.process_batch(batch, model)
        except Exception as error:
            if len(batch) == 1:
                return [StepFailure(describe(error))]
            self.counter("batch_fallbacks").inc()
            return [self._batch_or_each([segment], model)[0] for segment in batch]
        if len(outputs) != len(batch):
            raise RuntimeError(f"{self.step} returned {len(outputs)} records for {len(batch)}")
        return outputs

    def counter(self, name: str):
        """A Beam counter in this step's namespace, for the step's own tallies."""
        return Metrics.counter(self.get_metrics_namespace(), name)

    def _count(self, batch: Sequence[Segment], outputs: list, seconds: float) -> None:
        failures = sum(isinstance(out, StepFailure) for out in outputs)
        audio_seconds = sum(len(segment.audio) for segment in batch) / SAMPLE_RATE
        self.counter("records").inc(len(batch))
        self.counter("failures").inc(failures)
        self.counter("step_ms").inc(round(seconds * 1000))
        self.counter("audio_ms").inc(round(audio_seconds * 1000))


class _SplitResults(beam.DoFn):
    """PredictionResults to segments (main output) and reject rows (the ``rejects`` output)."""

    def __init__(self, reason: str):
        self._reason = reason

    def process(self, result: PredictionResult):
        segment, out = result.example, result.inference
        if isinstance(out, StepFailure):
            yield beam.pvalue.TaggedOutput("rejects", _reject(segment, self._reason, out.error))
        else:
            yield out


def _batch_weight(needs: Callable[[Segment], bool], segment: Segment) -> int:
    return _WORK_WEIGHT if needs(segment) else 1


def _reject(segment: Segment, reason: str, error: str) -> Reject:
    return Reject("curate", segment.role, segment.source, reason, error, segment.key)


def _dead_batch(failure: tuple[Sequence[Segment], tuple], reason: str) -> list[Reject]:
    """Rejects for a batch that escaped the per-record fallback (RunInference's dead letters)."""
    batch, (_, error_repr, _) = failure
    return [_reject(segment, reason, error_repr) for segment in batch]


class CurateStep(beam.PTransform):
    """One curate step: segments in, ``{"segments": ..., "rejects": ...}`` out."""

    def __init__(self, handler: SegmentHandler):
        super().__init__()
        self._handler = handler

    def expand(self, segments: beam.PCollection) -> dict[str, beam.PCollection]:
        results, dead = segments | "Infer" >> RunInference(self._handler).with_exception_handling()
        split = results | "Split" >> beam.ParDo(_SplitResults(self._handler.reason)).with_outputs(
            "rejects", main="segments"
        )
        dead_rejects = dead.failed_inferences | "DeadLetters" >> beam.FlatMap(
            _dead_batch, self._handler.reason
        )
        return {
            "segments": split.segments,
            "rejects": (split.rejects, dead_rejects) | "Rejects" >> beam.Flatten(),
        }
