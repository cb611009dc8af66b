"""Text normalization: NeMo's spoken form, the fast path that skips it, and its rejects.

The real NeMo normalizer is built once for this module with the default cache folder, so only
the first run ever compiles its grammars (~30 s); later runs load them (a few seconds).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_transforms_beam import counter, make_segment, run_steps

from voxsift.evaltext import normalize_for_eval
from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.normalize import (
    NemoNormalizer,
    NormalizeHandler,
    needs_nemo,
    normalize_text,
)
from voxsift.transforms.settings import NormalizeSettings


@pytest.fixture(scope="module")
def nemo() -> NemoNormalizer:
    settings = NormalizeSettings()
    return NemoNormalizer(settings.language, settings.cache_dir)


def test_nemo_speaks_money_and_dates(nemo):
    spoken, used_nemo = normalize_text("$12.50 on Jan. 5th", nemo)
    assert used_nemo
    assert not re.search(r"[\d$]", spoken)
    assert "twelve dollars" in spoken and "fifty cents" in spoken
    assert "january fifth" in spoken.lower()


class _NoNemo(NemoNormalizer):
    def _build(self):
        raise AssertionError("NeMo must not be built for plain text")


def test_plain_text_skips_nemo():
    nemo = _NoNemo("en", None)
    assert normalize_text("the  cat sat on the mat ", nemo) == ("the cat sat on the mat", False)
    assert normalize_text("Is it raining, Anna?", nemo) == ("Is it raining, Anna?", False)
    assert not nemo.built


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello world", False),
        ("Well, I don't know. Maybe!", False),
        ("I have 3 cats", True),
        ("ten percent, or 10%", True),
        ("Dr. Who", True),
        ("the U.S. economy", True),
        ("NASA LAUNCHED IT", False),
        ("World War II", True),
        ("salt & pepper", True),
    ],
)
def test_needs_nemo(text, expected):
    assert needs_nemo(text) is expected


def test_eval_normalizer_ignores_case_and_punctuation():
    assert normalize_for_eval("Hello, World!") == normalize_for_eval("hello world")


class _BrittleNemo:
    """Stands in for NeMo: fails on one input, as NeMo does on text its grammars cannot parse."""

    def normalize(self, text: str) -> str:
        if "#" in text:
            raise ValueError("no grammar for '#'")
        return text.replace("2", "two")


class _BrittleHandler(NormalizeHandler):
    def load_model(self):
        return _BrittleNemo()


def test_unnormalizable_text_is_a_reject(tmp_path):
    audio = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    segments = [
        make_segment("a", audio, text="room 2"),
        make_segment("b", audio, text="room #"),
        make_segment("c", audio),  # no text at all: passed by, norm_text stays null
        make_segment("d", audio, text="plain words"),
    ]
    step = CurateStep(_BrittleHandler(NormalizeSettings(batch_size=4)))
    kept, rejects, metrics = run_steps([("normalize", step)], segments, tmp_path)

    assert {s.source: s.fields.get("norm_text") for s in kept} == {
        "a": "room two",
        "c": None,
        "d": "plain words",
    }
    assert [(r.source, r.reason) for r in rejects] == [("b", "normalize_failed")]
    assert "no grammar" in rejects[0].error
    assert counter(metrics, "voxsift.curate.normalize", "fast_path") == 1
    assert counter(metrics, "voxsift.curate.normalize", "nemo") == 1
    assert counter(metrics, "voxsift.curate.normalize", "skipped") == 1
