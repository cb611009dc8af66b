"""Filters on what the teacher reported besides its confidence: failure signals and language.

Whisper fails in known ways, and its decoder reports each (Whisper itself retries a window on
the first three, with these thresholds): a loop of the same phrase (``ngram_repeats``; a
compression ratio above 2.4), a text emitted where it judged there was no speech
(``no_speech_prob`` above 0.6 while the pseudo-label is not empty), a low average
log-probability (below -1.0). A pseudo-label's speaking rate out of range is the quality step's
``chars_per_second`` (``min_chars_per_second``, ``max_chars_per_second``). Language filters keep
the segments whose detected language (else the manifest's ``language``) is one of
``languages`` and whose detection was sure enough (``min_language_probability``).

As elsewhere in selection, a null column passes: a teacher that does not report a signal, or a
step that did not run, gives nothing to judge by. Every threshold is off unless set.
"""

from __future__ import annotations

from typing import Any

from voxsift.selectors.confidence import above, below
from voxsift.selectors.settings import SelectSettings


def failure_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    """Why the teacher's output looks like one of its known failures, or None."""
    if above(row.get("ngram_repeats"), settings.max_ngram_repeats):
        return "filtered_repeated_ngrams"
    if above(row.get("compression_ratio"), settings.max_compression_ratio):
        return "filtered_compression_ratio"
    spoke = bool((row.get("pseudo_text") or "").strip())
    if spoke and above(row.get("no_speech_prob"), settings.max_no_speech_prob):
        return "filtered_no_speech"
    if below(row.get("avg_logprob"), settings.min_avg_logprob):
        return "filtered_low_logprob"
    return None


def language_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    """Why the segment's language is not one that is wanted, or not sure enough, or None."""
    language = row.get("detected_language") or row.get("language")
    if settings.languages and language is not None and language not in settings.languages:
        return "filtered_language"
    if below(row.get("language_probability"), settings.min_language_probability):
        return "filtered_language_probability"
    return None


def teacher_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    return failure_reason(row, settings) or language_reason(row, settings)
