"""The faster-whisper teacher on its real packaged weights and real recorded speech.

Inputs are Debian's Asterisk telephone prompts (voxsift/prompts.py): one professional speaker per
language, 8 kHz, with their transcripts; the tests use one fixed half of the prompts (part "a"),
so the other half stays unseen for the benchmark. Whisper tiny.en labels the English ones, the
multilingual base identifies the Spanish and French ones. Random-weight tests of the transformers
Whisper and demucs loading code stay in test_transforms_models.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from realspeech import (
    label,
    labeler,
    prompt_audio,
    require_prompts,
    require_whisper,
    white_noise_copy,
)
from scipy.stats import spearmanr
from test_transforms_beam import counter, make_segment, run_steps

from voxsift import models
from voxsift.config import ConfigError, parse_config
from voxsift.evaltext import corpus_error_rates
from voxsift.prompts import load_prompts
from voxsift.selectors.filters import filter_reason
from voxsift.selectors.settings import SelectSettings
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.settings import LabelSettings

ENGLISH = 40
NOISY = 20
LANGUAGE_ID = 20
WHISPER_FILTERS = SelectSettings(
    method="random", max_ngram_repeats=3, max_compression_ratio=2.4, max_no_speech_prob=0.6
)


@pytest.fixture(scope="module")
def tiny():
    require_whisper("tiny.en")
    require_prompts("en")
    return labeler("faster-whisper:tiny.en")


@pytest.fixture(scope="module")
def english():
    require_prompts("en")
    chosen = load_prompts("en", min_words=3, part="a", limit=ENGLISH, max_seconds=12.0)
    return [(p, prompt_audio(p)) for p in chosen]


@pytest.fixture(scope="module")
def clean_labels(tiny, english):
    handler, model = tiny
    segments = [make_segment(p.name, audio, text=p.text) for p, audio in english]
    return label(handler, model, segments, batch=8)


@pytest.fixture(scope="module")
def noisy_labels(tiny, english):
    handler, model = tiny
    segments = [
        make_segment(f"noisy/{p.name}", white_noise_copy(audio, 0.0, seed), text=p.text)
        for seed, (p, audio) in enumerate(english[:NOISY])
    ]
    return label(handler, model, segments, batch=8)


def test_tiny_en_transcribes_real_english_prompts(english, clean_labels):
    assert len(english) == ENGLISH
    rates = corpus_error_rates(
        [p.text for p, _ in english], [s.fields["pseudo_text"] for s in clean_labels]
    )
    assert rates["wer"] <= 0.15, rates
    for segment in clean_labels:
        fields = segment.fields
        assert fields["teacher"] == "faster-whisper:tiny.en"
        assert 0.0 < fields["confidence"] <= 1.0
        words = fields["word_confidences"]
        assert len(words) >= 1 and all(0.0 < c <= 1.0 for c in words)
        geometric = math.exp(np.mean(np.log(words)))
        assert math.isclose(fields["confidence"], geometric, rel_tol=1e-6)
        assert fields["avg_logprob"] < 0.0
        assert 0.0 <= fields["no_speech_prob"] <= 1.0
        assert fields["compression_ratio"] > 0.0 and fields["ngram_repeats"] >= 1
        assert fields["label_wer"] is not None
        # an English-only model detects nothing: the language was not a decision it made
        assert fields["detected_language"] is None and fields["language_probability"] is None


def test_confidence_falls_with_noise_and_with_errors(clean_labels, noisy_labels):
    clean = np.array([s.fields["confidence"] for s in clean_labels[:NOISY]])
    noisy = np.array([s.fields["confidence"] for s in noisy_labels])
    assert noisy.mean() < clean.mean() - 0.2, (clean.mean(), noisy.mean())
    assert (noisy < clean).mean() >= 0.8
    mixed = clean_labels + noisy_labels
    confidence = [s.fields["confidence"] for s in mixed]
    wer = [s.fields["label_wer"] for s in mixed]
    rho = spearmanr(confidence, wer).statistic
    assert rho < -0.5, rho


def test_whisper_failure_filters_catch_a_repeated_phrase(tiny, english, clean_labels):
    """A prompt said six times over reads back as one phrase looped: both repetition filters
    fire on it, while the real single prompts pass all of Whisper's failure filters."""
    handler, model = tiny
    thanks = next(p for p in load_prompts("en") if p.name == "auth-thankyou")
    audio = prompt_audio(thanks)
    gap = np.zeros(3200, dtype=np.float32)
    looped = np.concatenate([np.concatenate([audio, gap]) for _ in range(6)])
    (segment,) = handler.process_batch([make_segment("looped", looped)], model)
    row = _row(segment)
    assert row["ngram_repeats"] >= 4 and row["compression_ratio"] > 2.4, row["pseudo_text"]
    assert filter_reason(row, WHISPER_FILTERS) == "filtered_repeated_ngrams"
    only_compression = WHISPER_FILTERS.model_copy(update={"max_ngram_repeats": None})
    assert filter_reason(row, only_compression) == "filtered_compression_ratio"
    rows = [_row(s) for s in clean_labels]
    caught = [r["pseudo_text"] for r in rows if filter_reason(r, WHISPER_FILTERS)]
    assert len(caught) <= 1, caught


@pytest.mark.parametrize("language", ["es", "fr"])
def test_base_identifies_spanish_and_french(language):
    require_whisper("base")
    require_prompts(language)
    chosen = load_prompts(language, min_words=3, part="a", min_seconds=4.0, limit=LANGUAGE_ID)
    handler, model = labeler("faster-whisper:base", language=None, max_new_tokens=8)
    segments = [make_segment(p.name, prompt_audio(p)) for p in chosen]
    labeled = label(handler, model, segments, batch=8)
    detected = [s.fields["detected_language"] for s in labeled]
    right = sum(found == language for found in detected)
    assert len(chosen) == LANGUAGE_ID and right >= 0.9 * LANGUAGE_ID, detected
    assert all(0.0 < s.fields["language_probability"] <= 1.0 for s in labeled)
    wanted = SelectSettings(method="random", languages=[language])
    reasons = [filter_reason(_row(s), wanted) for s in labeled]
    assert reasons.count(None) == right
    assert reasons.count("filtered_language") == LANGUAGE_ID - right


def _row(segment) -> dict:
    return {**segment.fields, "duration": segment.duration, "metadata": "{}"}


def test_teacher_runs_through_run_inference(english, tmp_path):
    require_whisper("tiny.en")
    settings = LabelSettings(teacher="faster-whisper:tiny.en", batch_size=2, beam_size=1)
    segments = [make_segment(p.name, audio) for p, audio in english[:3]]
    kept, rejects, metrics = run_steps(
        [("label", CurateStep(LabelHandler(settings)))], segments, tmp_path
    )
    assert rejects == [] and len(kept) == 3
    assert all(s.fields["pseudo_text"] and s.fields["label_wer"] is None for s in kept)
    assert counter(metrics, "voxsift.curate.label", "records") == 3


def test_unresolvable_teacher_is_refused_when_the_config_is_read(tmp_path, monkeypatch):
    base = {"input": ["pool.jsonl"], "output": str(tmp_path / "out")}
    base["select"] = {"method": "random"}
    with pytest.raises(ConfigError, match=r"label\.teacher: faster-whisper:small is neither"):
        parse_config({**base, "label": {"teacher": "faster-whisper:small"}})
    missing = models.PackagedModel(
        "whisper-gone",
        (models._one("voxsift-no-such-package", "x", "model.bin", "0" * 64),),
        "voxsift-no-such-package==1",
    )
    monkeypatch.setitem(models.WHISPER_MODELS, "gone", missing)
    with pytest.raises(ConfigError, match=r"label\.teacher: .*voxsift-no-such-package==1"):
        parse_config({**base, "label": {"teacher": "faster-whisper:gone"}})
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"")
    parse_config({**base, "label": {"teacher": f"faster-whisper:{folder}"}})
