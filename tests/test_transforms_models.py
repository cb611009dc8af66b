"""Whisper and demucs handlers end to end through RunInference, with tiny random models.

The models are built from the libraries' own classes and saved the way real checkpoints are, so
the real loading code runs: ``whisper:PATH`` through ``from_pretrained``, ``demucs:NAME@REPO``
through ``demucs.pretrained.get_model``. No network.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_transforms_beam import counter, make_segment, run_steps, step_sections

from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.settings import (
    EnhanceSettings,
    LabelSettings,
    NormalizeSettings,
    QualitySettings,
)
from voxsift.transforms.steps import curate_steps
from voxsift.transforms.whisper import group_words

SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|de|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A 2-layer Whisper with random weights and a byte-level tokenizer, saved to a folder."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {char: i for i, char in enumerate(bytes_to_unicode().values())}
    for word in ("Ġthe", "Ġcat", "Ġsat"):
        vocab[word] = len(vocab)
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIALS}
    start, end = ids["<|startoftranscript|>"], ids["<|endoftext|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=64,
        decoder_start_token_id=start,
        eos_token_id=end,
        pad_token_id=end,
        bos_token_id=end,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        eos_token_id=end,
        pad_token_id=end,
        lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=True,
    )
    folder = tmp_path_factory.mktemp("tiny-whisper")
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(), tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_demucs(tmp_path_factory):
    """A small randomly initialized HDemucs saved as a demucs model package in a local repo."""
    from demucs.hdemucs import HDemucs
    from demucs.states import get_state

    torch.manual_seed(0)
    model = HDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, segment=2)
    args, kwargs = model._init_args_kwargs
    package = {"klass": HDemucs, "args": args, "kwargs": kwargs, "state": get_state(model, None)}
    repo = tmp_path_factory.mktemp("demucs-repo")
    torch.save({**package, "training_args": {}}, repo / "tiny.th")
    return repo


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voiced = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (voiced + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("language", ["en", None])
def test_whisper_labels_through_run_inference(tiny_whisper, tmp_path, language):
    settings = LabelSettings(
        teacher=f"whisper:{tiny_whisper}",
        relabel_transcribed=True,
        language=language,
        max_new_tokens=8,
        batch_size=2,
        device="cpu",
    )
    segments = [
        make_segment("a", _speechlike(1.0, 0), text="the cat sat"),
        make_segment("b", _speechlike(2.0, 1)),
        make_segment("c", _speechlike(1.5, 2)),
    ]
    step = CurateStep(LabelHandler(settings))
    kept, rejects, metrics = run_steps([("label", step)], segments, tmp_path)

    assert rejects == [] and [s.source for s in kept] == ["a", "b", "c"]
    for segment in kept:
        fields = segment.fields
        assert fields["teacher"] == settings.teacher
        assert isinstance(fields["pseudo_text"], str)
        assert 0.0 < fields["confidence"] <= 1.0
        assert math.isclose(fields["confidence"], math.exp(fields["avg_logprob"]))
        assert all(0.0 < c <= 1.0 for c in fields["word_confidences"])
        assert 0.0 <= fields["no_speech_prob"] <= 1.0
        assert fields["detected_language"] in ({"en", "de"} if language is None else {None})
    assert kept[0].fields["label_wer"] is not None and kept[1].fields["label_wer"] is None
    assert counter(metrics, "voxsift.curate.label", "records") == 3


def test_group_words_opens_a_word_at_each_leading_space():
    pieces = [" hel", "lo", " ", " world", "!"]
    logprobs = [math.log(0.5), math.log(0.5), 0.0, math.log(0.8), math.log(0.2)]
    assert np.allclose(group_words(pieces, logprobs), [0.5, 0.4])


def test_demucs_enhances_through_run_inference(tiny_demucs, tmp_path):
    enhance = EnhanceSettings(method=f"demucs:tiny@{tiny_demucs}", gate_margin_db=-200.0)
    steps = curate_steps(
        step_sections(
            quality=QualitySettings(enabled=False),
            enhance=enhance,
            label=LabelSettings(teacher="none"),
            normalize=NormalizeSettings(enabled=False),
        )
    )
    assert [name for name, _ in steps] == ["enhance"]
    segments = [make_segment("a", _speechlike(1.0, 3)), make_segment("b", _speechlike(0.5, 4))]
    kept, rejects, metrics = run_steps(steps, segments, tmp_path)

    assert rejects == []
    for before, after in zip(segments, kept, strict=True):
        assert after.fields["enhancement"] == "demucs:tiny"  # a margin of -200 dB always keeps it
        assert after.audio.shape == before.audio.shape and after.audio.dtype == np.float32
        assert np.isfinite(after.audio).all() and not np.array_equal(after.audio, before.audio)
        assert {"snr_before_db", "snr_after_db"} <= set(after.fields)
    assert counter(metrics, "voxsift.curate.enhance", "gate_kept") == 2
