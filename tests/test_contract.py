"""The contract between stages: one training text, one sample writer, test shards from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxsift import shardio
from voxsift.schema import Segment, segment_key, training_text


@pytest.mark.parametrize(
    "columns, expected",
    [
        ({"norm_text": "twelve", "text": "12", "pseudo_text": "twelve?"}, "twelve"),
        ({"norm_text": None, "text": "12", "pseudo_text": "twelve?"}, "12"),
        ({"norm_text": "  ", "text": "", "pseudo_text": "twelve?"}, "twelve?"),
        ({"text": " \n", "pseudo_text": None}, None),
        ({}, None),
    ],
)
def test_training_text_is_the_first_non_blank_of_its_columns(columns, expected):
    assert training_text(columns) == expected


def test_a_segment_has_the_training_text_of_its_row():
    audio = np.zeros(1600, dtype=np.float32)
    segment = Segment(segment_key("a", 0, 0.1), "pool", "a", 0.0, 0.1, audio, " ", "ok")
    labeled = segment.with_fields(pseudo_text="hello")
    assert training_text(segment) is None and training_text(labeled) == "hello"
    normalized = labeled.with_fields(norm_text="hello there")
    assert training_text(normalized) == training_text(normalized.to_row(b"")) == "hello there"


def test_a_sample_trains_on_the_training_text():
    row = {"key": segment_key("a", 0, 1), "audio": b"flac", "metadata": '{"speaker": "s"}',
           "text": "12", "norm_text": "twelve", "duration": 1.0}  # fmt: skip
    chosen = {"weight": 0.5, "score": 1.0, "rank": 0, "method": "nudge"}
    sample = shardio.make_sample(row, chosen, "hash")
    fields = json.loads(sample["json"])
    assert fields["text"] == "twelve" and fields["weight"] == 0.5
    assert fields["meta"] == {"speaker": "s"} and fields["config_hash"] == "hash"
    assert set(fields) >= set(shardio.SAMPLE_FIELDS)
