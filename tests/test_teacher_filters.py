"""Whisper's failure signals and language ID as select filters, and the repetition measure."""

from __future__ import annotations

import pytest

from voxsift.selectors.filters import filter_reason
from voxsift.selectors.settings import SelectSettings
from voxsift.transforms.signals import ngram_repeats

LOOP = "Thank you. Thank you. Thank you. Thank you. Thank you."


@pytest.mark.parametrize(
    ("text", "repeats"),
    [
        ("", 0),
        ("press one press two", 1),
        ("the the", 2),
        ("thank you thank you thank you", 3),
        (LOOP, 5),
        ("Please hold. Please hold, please hold!", 3),
        ("a b c d a b c d", 2),
    ],
)
def test_ngram_repeats_counts_back_to_back_copies(text, repeats):
    assert ngram_repeats(text) == repeats


def _row(**fields) -> dict:
    return {"duration": 3.0, "metadata": "{}", "pseudo_text": "some words", **fields}


FILTERS = SelectSettings(
    method="random",
    max_ngram_repeats=3,
    max_compression_ratio=2.4,
    max_no_speech_prob=0.6,
    min_avg_logprob=-1.0,
    languages=["en", "fr"],
    min_language_probability=0.5,
)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"ngram_repeats": 5, "compression_ratio": 2.5}, "filtered_repeated_ngrams"),
        ({"ngram_repeats": 3, "compression_ratio": 2.5}, "filtered_compression_ratio"),
        ({"no_speech_prob": 0.9}, "filtered_no_speech"),
        ({"no_speech_prob": 0.9, "pseudo_text": " "}, None),  # nothing emitted: nothing to drop
        ({"avg_logprob": -1.5}, "filtered_low_logprob"),
        ({"detected_language": "es", "language_probability": 0.9}, "filtered_language"),
        ({"detected_language": "fr", "language_probability": 0.3}, "filtered_language_probability"),
        ({"language": "de"}, "filtered_language"),  # no detection: the manifest's language
        ({"language": "de", "detected_language": "en"}, None),  # a detection wins
        ({"chars_per_second": 40.0}, None),  # the speaking rate filter is off here
    ],
)
def test_failure_and_language_filters(fields, reason):
    assert filter_reason(_row(**fields), FILTERS) == reason


def test_filters_are_off_unless_set():
    row = _row(ngram_repeats=9, compression_ratio=9.0, no_speech_prob=1.0, avg_logprob=-9.0)
    row.update(detected_language="xx", language_probability=0.01)
    assert filter_reason(row, SelectSettings(method="random")) is None
