"""The embed step: each kind through RunInference, blocks normalized and concatenated."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that

from voxsift.schema import SAMPLE_RATE, Segment
from voxsift.synth import speak
from voxsift.transforms.embed import Embed, EmbedSettings

WHISPER_WIDTH = 32


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialized two-layer Whisper saved locally (no feature extractor saved)."""
    from transformers import WhisperConfig, WhisperModel

    config = WhisperConfig(
        d_model=WHISPER_WIDTH, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
        max_source_positions=150, max_target_positions=16, vocab_size=64, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny_whisper")
    WhisperModel(config).save_pretrained(folder)
    return str(folder)


def _segments() -> list[Segment]:
    audio, rate = speak("Please bring the red kettle to the kitchen.", voice="en-us", rate_wpm=170)
    import torch
    import torchaudio

    clip = torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy()
    common = {"role": "pool", "source": "s", "start": 0.0, "end": 1.0, "text_status": "none"}
    return [
        Segment(key="with_text", audio=clip, text="Please bring the red kettle.", **common),
        Segment(key="no_text", audio=clip[:SAMPLE_RATE], text=None, **common),
    ]


def _check(segments: list[Segment]) -> None:
    by_key = {s.key: s.fields for s in segments}
    assert set(by_key) == {"with_text", "no_text"}
    for key, fields in by_key.items():
        vector = np.asarray(fields["embedding"])
        assert fields["embedding_kind"].startswith("acoustic+text+whisper-encoder:")
        blocks = np.split(vector, [192, 192 + 384])
        assert [len(b) for b in blocks] == [192, 384, WHISPER_WIDTH]
        norms = [float(np.linalg.norm(b)) for b in blocks]
        text_norm = 0.0 if key == "no_text" else np.sqrt(1 / 3)
        np.testing.assert_allclose(norms, [np.sqrt(1 / 3), text_norm, np.sqrt(1 / 3)], atol=1e-5)


def test_every_kind_is_embedded_and_blocks_are_normalized(tiny_whisper):
    settings = EmbedSettings(kinds=["acoustic", "text", f"whisper-encoder:{tiny_whisper}"])
    with beam.Pipeline() as pipeline:
        outputs = pipeline | beam.Create(_segments()) | Embed(settings)
        assert_that(outputs["segments"], _check)
        assert_that(outputs["rejects"], lambda rejects: rejects == [] or pytest.fail(rejects),
                    label="NoRejects")  # fmt: skip


@pytest.mark.parametrize(
    ("kinds", "weights", "message"),
    [
        (["mfcc"], None, "unknown embedding kind 'mfcc'; choose one of 'acoustic', 'text'"),
        (["whisper-encoder:"], None, "needs a model name"),
        (["text", "text"], None, "must not repeat"),
        (["acoustic", "text"], [1.0], "one positive number per kind"),
    ],
)
def test_embed_settings_refuse_bad_kinds(kinds, weights, message):
    with pytest.raises(ValueError, match=message):
        EmbedSettings(kinds=kinds, weights=weights)
