"""Text normalization: the training target ``norm_text``, written form turned into spoken form.

A speech model hears "twelve dollars fifty cents", not "$12.50", so the target it learns from
is spelled the way it is spoken. nemo-text-processing's WFST ``Normalizer`` does this; it costs
~30 s to compile the first time (then it loads from ``cache_dir``) and tens of milliseconds per
line. Most transcripts hold no digit, symbol or abbreviation, and NeMo would return them as they
are, so a fast path passes them through without calling it, and NeMo is only built on a worker
when some text needs it. Scores (WER/CER) use the separate evaluation normalizer in
:mod:`voxsift.evaltext`; this module only writes targets.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence

from voxsift.schema import Segment, training_text
from voxsift.transforms.inference import SegmentHandler
from voxsift.transforms.settings import NormalizeSettings

_ABBREVIATIONS = (
    "mr|mrs|ms|dr|prof|st|jr|sr|mt|ft|ave|blvd|rd|no|vs|etc|approx|dept|est|inc|ltd|co|corp"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
)
_NEEDS_NEMO = re.compile(
    r"\d"  # numbers, dates, times, money, ordinals
    r"|[^\w\s.,!?;:'\"()\-]"  # symbols: $ % & @ # / + = ° € …
    r"|\b[IVXLCDM]{2,}\b"  # Roman numerals (NeMo leaves other all-caps words as they are)
    r"|(?:\b[A-Za-z]\.){2,}"  # dotted initials: U.S., e.g.
    rf"|\b(?i:{_ABBREVIATIONS})\."  # common abbreviations with their period
)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def needs_nemo(text: str) -> bool:
    """Whether the text holds anything NeMo would rewrite: digits, symbols or abbreviations."""
    return _NEEDS_NEMO.search(text) is not None


class NemoNormalizer:
    """NeMo's ``Normalizer`` built on first use, once per worker, shared by its threads."""

    def __init__(self, language: str, cache_dir: str | None):
        self._language = language
        self._cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
        self._normalizer = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._normalizer is not None

    def _build(self):
        from nemo_text_processing.text_normalization.normalize import Normalizer

        # normalize() resets NeMo's logger to INFO on every call, so a filter, not a level
        logging.getLogger("NeMo-text-processing").addFilter(_warnings_only)
        if self._cache_dir:
            os.makedirs(self._cache_dir, exist_ok=True)
        return Normalizer(
            input_case="cased",
            lang=self._language,
            cache_dir=self._cache_dir,
            overwrite_cache=False,
        )

    def normalize(self, text: str) -> str:
        """Spoken form of ``text``; ValueError when NeMo gives back nothing."""
        with self._lock:
            if self._normalizer is None:
                self._normalizer = self._build()
            spoken = self._normalizer.normalize(text, verbose=False, punct_post_process=True)
        spoken = " ".join(spoken.split())
        if not spoken:
            raise ValueError(f"NeMo normalized {text!r} to empty text")
        return spoken


def normalize_text(text: str, nemo: NemoNormalizer) -> tuple[str, bool]:
    """The spoken form, and whether NeMo was needed; plain text only has its spaces squeezed."""
    if not needs_nemo(text):
        return " ".join(text.split()), False
    return nemo.normalize(text), True


def has_target(segment: Segment) -> bool:
    """Whether there is any text to normalize (the routing test of the normalize step)."""
    return training_text(segment) is not None


class NormalizeHandler(SegmentHandler[NemoNormalizer]):
    """Fills ``norm_text`` from the written target; a text NeMo cannot handle is rejected."""

    step = "normalize"

    def __init__(self, settings: NormalizeSettings):
        super().__init__(settings.batch_size, needs=has_target)
        self._settings = settings

    def load_model(self) -> NemoNormalizer:
        return NemoNormalizer(self._settings.language, self._settings.cache_dir)

    def process_batch(self, batch: Sequence[Segment], model: NemoNormalizer) -> list[Segment]:
        spoken = [normalize_text(_target(segment), model) for segment in batch]
        # counted once the whole batch succeeded, so a per-record retry does not count twice
        nemo_calls = sum(used_nemo for _, used_nemo in spoken)
        self.counter("nemo").inc(nemo_calls)
        self.counter("fast_path").inc(len(batch) - nemo_calls)
        return [s.with_fields(norm_text=text) for s, (text, _) in zip(batch, spoken, strict=True)]


def _target(segment: Segment) -> str:
    """The written target: ``norm_text`` is what this step fills, so the training text so far
    is the reference transcript, else the pseudo-label."""
    text = training_text(segment)
    if text is None:
        raise ValueError("segment has neither a transcript nor a pseudo-label")
    return text
