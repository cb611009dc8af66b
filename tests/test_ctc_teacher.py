"""The ``ctc:PATH`` teacher: best-path decoding, Ask2Mask confidences, models it loads."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math

import numpy as np
import pytest

import shardkit
from voxsift.schema import Segment, segment_key
from voxsift.trainers.loop import train
from voxsift.trainers.settings import TrainSettings
from voxsift.transforms.ctc_teacher import CtcTeacher, best_path_words
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.settings import LabelSettings, ModelSpec

TOKENS = ["<pad>", "<unk>", "|", "a", "b"]
BLANK, DELIM, A, B = 0, 2, 3, 4


def posteriors(frames: list[tuple[int, float]]) -> np.ndarray:
    """Log-posteriors whose best label per frame is ``label`` with probability ``p``."""
    rows = []
    for label, p in frames:
        row = np.full(len(TOKENS), (1 - p) / (len(TOKENS) - 1))
        row[label] = p
        rows.append(np.log(row))
    return np.array(rows)


def decode(ids: list[int]) -> str:
    return "".join(TOKENS[i] for i in ids if i > 1).replace("|", " ")


def test_best_path_collapses_repeats_and_keeps_doubles_across_blanks():
    frames = [(A, 0.9), (A, 0.7), (BLANK, 0.8), (A, 0.6), (DELIM, 0.9), (B, 0.5), (BLANK, 0.9)]
    text, confidence, words = best_path_words(posteriors(frames), BLANK, DELIM, decode)
    assert text == "aa b"
    assert confidence == pytest.approx(np.mean([p for _, p in frames]))
    assert words == pytest.approx([np.mean([0.9, 0.7, 0.6]), 0.5])


def test_nothing_decoded_means_no_confidence():
    frames = [(BLANK, 0.99), (DELIM, 0.99), (BLANK, 0.99)]
    assert best_path_words(posteriors(frames), BLANK, DELIM, decode) == ("", 0.0, [])
    assert best_path_words(np.zeros((0, len(TOKENS))), BLANK, DELIM, decode) == ("", 0.0, [])


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=16, valid=4)


def train_settings(**extra) -> TrainSettings:
    base = dict(
        model="random:parakeet?hidden=32&layers=1&channels=8&kernel=3",
        adapter="full",
        steps=2,
        log_every=100,
        data={"batch_seconds": 4.0, "max_seconds": 2.0, "shuffle_buffer": 4},
    )
    return TrainSettings(**{**base, **extra})


@pytest.fixture(scope="module")
def base(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    train(train_settings(), str(shards), str(out))
    return out


@pytest.fixture(scope="module")
def adapted(base, shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapted")
    train(train_settings(model=str(base), adapter="lora"), str(shards), str(out))
    return out


def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [shardkit.utterance(rng)[0] for _ in range(3)]


@pytest.mark.parametrize("which", ["base", "adapted"])
def test_teacher_transcribes_with_confidences(which, request):
    folder = request.getfixturevalue(which)
    teacher = CtcTeacher(str(folder), LabelSettings(device="cpu"))
    transcripts = teacher.transcribe(clips())
    assert len(transcripts) == 3
    for transcript in transcripts:
        assert 0.0 <= transcript.confidence <= 1.0
        assert len(transcript.word_confidences) == len(transcript.text.split())
        assert all(0.0 <= c <= 1.0 and math.isfinite(c) for c in transcript.word_confidences)


def test_teacher_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a checkpoint"):
        CtcTeacher(str(tmp_path), LabelSettings(device="cpu"))


def test_label_step_runs_the_ctc_teacher(base):
    """``label.teacher: ctc:PATH`` writes the pseudo-label columns through the label step."""
    settings = LabelSettings(teacher=f"ctc:{base}", device="cpu", batch_size=2)
    assert settings.spec == ModelSpec("ctc", str(base))
    audio = clips()[0]
    end = len(audio) / 16_000
    segment = Segment(segment_key("a", 0.0, end), "pool", "a", 0.0, end, audio, None, "ok")
    handler = LabelHandler(settings)
    [labeled] = handler.process_batch([segment], handler.load_model())
    assert labeled.fields["teacher"] == f"ctc:{base}"
    assert 0.0 <= labeled.fields["confidence"] <= 1.0
