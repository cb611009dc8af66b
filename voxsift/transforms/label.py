"""Pseudo-labeling with confidences: a teacher ASR model transcribes segments.

It labels segments without a transcript and, with ``relabel_transcribed``, those with one, where
the WER between the normalized reference and the normalized pseudo-label (``label_wer``) is the
Distil-Whisper filter signal. Each teacher returns a :class:`Transcript`; the fields written from
it are the same for every teacher (teachers are registered by kind in ``kinds.TEACHERS``; the
``Teacher`` base lives in teacher.py). Confidences follow Ask2Mask: the utterance confidence becomes
the sample's loss weight downstream, the word confidences stay for token-level weighting.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Sequence

import numpy as np

from voxsift.evaltext import word_error_rate
from voxsift.schema import Segment
from voxsift.transforms.inference import SegmentHandler
from voxsift.transforms.kinds import TEACHERS, ModelSpec
from voxsift.transforms.settings import LabelSettings
from voxsift.transforms.signals import ngram_repeats
from voxsift.transforms.teacher import Teacher, Transcript

_SILENCES = frozenset({"<s>", "</s>", "<sil>"})


def compression_ratio(text: str) -> float | None:
    """UTF-8 bytes over zlib-compressed bytes: repetitive (hallucinated) text compresses well."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else None


def needs_label(segment: Segment, relabel_transcribed: bool) -> bool:
    """Unlabeled segments always; transcribed ones only when asked to relabel them."""
    has_text = bool(segment.text and segment.text.strip())
    return relabel_transcribed or not has_text


def label_fields(segment: Segment, transcript: Transcript, teacher: str) -> Segment:
    """The segment with the pseudo-label columns; ``label_wer`` only where a reference exists."""
    reference = segment.text if segment.text and segment.text.strip() else None
    return segment.with_fields(
        pseudo_text=transcript.text,
        confidence=float(transcript.confidence),
        word_confidences=[float(c) for c in transcript.word_confidences],
        teacher=teacher,
        label_wer=word_error_rate(reference, transcript.text) if reference else None,
        avg_logprob=transcript.avg_logprob,
        compression_ratio=compression_ratio(transcript.text),
        no_speech_prob=transcript.no_speech_prob,
        detected_language=transcript.language,
        language_probability=transcript.language_probability,
        ngram_repeats=ngram_repeats(transcript.text),
    )


class Pocketsphinx(Teacher):
    """CMU pocketsphinx with its packaged en-us model; one decoder, used by one thread at a time.

    pocketsphinx has no frame posteriors to expose, only lattice posteriors of the best path's
    segments (words, silences and fillers, already in linear scale in pocketsphinx 5). Word
    confidences are the word posteriors; the utterance confidence is Ask2Mask's frame-level
    score, the mean over frames of the posterior of the segment covering each frame.
    """

    @classmethod
    def load(cls, spec: ModelSpec, settings: LabelSettings) -> Pocketsphinx:
        return cls()

    def __init__(self):
        from pocketsphinx import Decoder

        self._decoder = Decoder(loglevel="FATAL")
        self._lock = threading.Lock()

    def transcribe(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        return [self._decode(audio) for audio in batch]

    def _decode(self, audio: np.ndarray) -> Transcript:
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        with self._lock:
            # the front end's cepstral mean and noise estimate carry over between utterances;
            # reset them so a label does not depend on what the worker decoded before it
            self._decoder.reinit_feat()
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
            segments = [
                (s.word, s.prob, s.end_frame - s.start_frame + 1) for s in self._decoder.seg()
            ]
        words = [(w, p) for w, p, _ in segments if w not in _SILENCES and not w.startswith("[")]
        frames = sum(n for _, _, n in segments)
        confidence = sum(p * n for _, p, n in segments) / frames if frames else 0.0
        return Transcript(
            text=hypothesis.hypstr if hypothesis else "",
            confidence=confidence if words else 0.0,
            word_confidences=[p for _, p in words],
        )


def load_teacher(settings: LabelSettings) -> Teacher:
    """The teacher ``label.teacher`` names, through its kind's loader (see kinds.TEACHERS)."""
    spec = settings.spec
    return TEACHERS.get(spec.kind).load(spec, settings)


class LabelHandler(SegmentHandler[Teacher]):
    """Transcribes a batch with the configured teacher and writes the pseudo-label columns."""

    step = "label"

    def __init__(self, settings: LabelSettings):
        needs = functools.partial(needs_label, relabel_transcribed=settings.relabel_transcribed)
        super().__init__(settings.batch_size, needs, settings.model_copies)
        self._settings = settings

    def load_model(self) -> Teacher:
        return load_teacher(self._settings)

    def process_batch(self, batch: Sequence[Segment], model: Teacher) -> list[Segment]:
        transcripts = model.transcribe([segment.audio for segment in batch])
        teacher = self._settings.teacher
        return [label_fields(s, t, teacher) for s, t in zip(batch, transcripts, strict=True)]
