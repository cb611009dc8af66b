"""Speech segmentation with silero-vad: where segments start and end, and what happens to text.

A transcribed file is kept whole (trimmed of leading and trailing silence) when it fits the
maximum length, because its transcript then still matches the audio. A file that must be split
loses its transcript, since we cannot tell which words fall in which piece; the segment records
``text_status="dropped_split"`` so the loss is visible, and pseudo-labeling can fill it later.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.settings import SegmentSettings

Span = tuple[float, float]
Piece = tuple[Span, np.ndarray, float]
"""A kept segment: its span in seconds, its 16 kHz audio and its VAD speech ratio."""


@dataclass(frozen=True)
class SegmentPlan:
    """Where to cut one file: the spans kept, whether the transcript survives, what was dropped."""

    spans: list[Span]
    keeps_text: bool
    dropped_short: int


def plan_segments(regions: list[Span], has_text: bool, settings: SegmentSettings) -> SegmentPlan:
    """Turn VAD speech regions into segments between min_seconds and max_seconds long."""
    if not regions:
        return SegmentPlan([], keeps_text=False, dropped_short=0)
    whole = (regions[0][0], regions[-1][1])
    if has_text and whole[1] - whole[0] <= settings.max_seconds:
        fits = whole[1] - whole[0] >= settings.min_seconds
        return SegmentPlan([whole] if fits else [], keeps_text=fits, dropped_short=int(not fits))
    merged = _merge_regions(regions, settings.max_seconds)
    kept = [span for span in merged if span[1] - span[0] >= settings.min_seconds]
    return SegmentPlan(kept, keeps_text=False, dropped_short=len(merged) - len(kept))


def _merge_regions(regions: list[Span], max_seconds: float) -> list[Span]:
    """Greedily join neighbouring regions while the joined span fits; cut over-long regions."""
    spans: list[Span] = []
    for start, end in regions:
        for piece in _split_long((start, end), max_seconds):
            if spans and piece[1] - spans[-1][0] <= max_seconds:
                spans[-1] = (spans[-1][0], piece[1])
            else:
                spans.append(piece)
    return spans


def _split_long(span: Span, max_seconds: float) -> list[Span]:
    """Equal pieces no longer than max_seconds (VAD found no pause to cut at)."""
    start, end = span
    pieces = max(1, math.ceil((end - start) / max_seconds - 1e-9))
    step = (end - start) / pieces
    return [(start + i * step, start + (i + 1) * step) for i in range(pieces)]


class VadSegmenter:
    """silero-vad speech regions of 16 kHz mono audio, in seconds."""

    def __init__(self, settings: SegmentSettings):
        from silero_vad import get_speech_timestamps, load_silero_vad

        self._settings = settings
        self._model = load_silero_vad()
        self._detect = get_speech_timestamps

    def regions(self, audio: np.ndarray) -> list[Span]:
        stamps = self._detect(
            torch.from_numpy(audio),
            self._model,
            threshold=self._settings.vad_threshold,
            sampling_rate=SAMPLE_RATE,
            min_silence_duration_ms=self._settings.min_silence_ms,
            speech_pad_ms=self._settings.speech_pad_ms,
        )
        return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def speech_ratio(regions: list[Span], span: Span) -> float:
    """Share of ``span`` that the VAD marked as speech."""
    overlap = sum(max(0.0, min(e, span[1]) - max(s, span[0])) for s, e in regions)
    return overlap / max(span[1] - span[0], 1e-9)


class StreamingSegmenter:
    """Segments of a long recording from its 16 kHz blocks, holding one VAD window at a time.

    VAD runs on a window of ``window_seconds``; regions that end more than ``max_seconds``
    before the window's end cannot grow any more, so they are planned and emitted, and the window
    moves on to where the last of them ended. Continuous speech with no such region is cut at
    that horizon. After the stream ends, ``saw_speech`` and ``dropped_short`` say what happened.
    """

    def __init__(self, vad: VadSegmenter, settings: SegmentSettings, window_seconds: float):
        self._vad = vad
        self._settings = settings
        self._window = int(window_seconds * SAMPLE_RATE)
        self.saw_speech = False
        self.dropped_short = 0

    def segments(self, blocks: Iterator[np.ndarray]) -> Iterator[Piece]:
        """(span in seconds from the file start, audio, speech ratio) for every kept segment."""
        buffer, offset = np.empty(0, dtype=np.float32), 0
        for block in blocks:
            buffer = np.concatenate([buffer, block])
            while len(buffer) >= self._window:
                cut, pieces = self._close(buffer)
                yield from self._shift(pieces, offset)
                buffer, offset = buffer[cut:], offset + cut
        yield from self._shift(self._plan(buffer, self._vad.regions(buffer)), offset)

    def _close(self, buffer: np.ndarray) -> tuple[int, list[Piece]]:
        """Plan the regions that are final; return where the window moves and the pieces."""
        regions = self._vad.regions(buffer)
        horizon = len(buffer) / SAMPLE_RATE - self._settings.max_seconds
        closed = [r for r in regions if r[1] <= horizon]
        if not closed:
            closed = [(s, min(e, horizon)) for s, e in regions if s < horizon]
            cut_seconds = horizon
        else:
            cut_seconds = closed[-1][1]
        return int(cut_seconds * SAMPLE_RATE), self._plan(buffer, closed)

    def _plan(self, buffer: np.ndarray, regions: list[Span]) -> list[Piece]:
        self.saw_speech = self.saw_speech or bool(regions)
        plan = plan_segments(regions, has_text=False, settings=self._settings)
        self.dropped_short += plan.dropped_short
        return [
            (span, buffer[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)],
             speech_ratio(regions, span))
            for span in plan.spans
        ]  # fmt: skip

    @staticmethod
    def _shift(pieces: list[Piece], offset: int) -> Iterator[Piece]:
        seconds = offset / SAMPLE_RATE
        for (start, end), piece, ratio in pieces:
            yield (start + seconds, end + seconds), piece, ratio
