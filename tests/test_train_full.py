"""Full training (``adapter: full``): a base trained from scratch, saved, and reused as a base."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

import shardkit
from voxsift.asr.adapters import load_trained
from voxsift.asr.models import build_model
from voxsift.trainers.loop import train
from voxsift.trainers.settings import TrainSettings

PARAKEET = "random:parakeet?hidden=32&layers=1&channels=8&kernel=3"
WAV2VEC2 = "random:ctc?hidden=32&layers=1&conv=16"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=16, valid=4)


def settings(**extra) -> TrainSettings:
    base = dict(
        model=PARAKEET,
        adapter="full",
        steps=3,
        lr=1e-3,
        log_every=100,
        data={"batch_seconds": 4.0, "max_seconds": 2.0, "shuffle_buffer": 4},
    )
    return TrainSettings(**{**base, **extra})


@pytest.fixture(scope="module", params=[PARAKEET, WAV2VEC2])
def trained(shards, tmp_path_factory, request):
    out = tmp_path_factory.mktemp("full")
    metrics = train(settings(model=request.param), str(shards), str(out))
    return out, metrics


def test_full_training_trains_every_parameter(trained):
    _, metrics = trained
    assert metrics["finished"]
    assert metrics["trainable_parameters"] == metrics["total_parameters"]
    assert metrics["final_eval"] is not None


def test_frame_count_matches_the_network():
    model = build_model(PARAKEET, texts=lambda: ["one two"])
    audio = [np.zeros(n, dtype=np.float32) for n in (8_000, 12_345, 16_000)]
    inputs = model.family.collate(audio, ["one", "two", "one two"])
    encoder = model.network.encoder
    expected = encoder._get_subsampling_output_length(inputs["attention_mask"].sum(-1))
    assert model.family.frames(inputs["lengths"]).tolist() == expected.tolist()


def test_saved_model_loads_by_path_with_the_same_outputs(trained):
    out, _ = trained
    model, adapter = load_trained(out)
    again = build_model(str(out))
    assert again.family.codec.tokenizer.convert_ids_to_tokens(0) == "<pad>"
    audio = [np.sin(np.arange(16_000) / 9).astype(np.float32)]
    inputs = model.family.collate(audio, ["one"])
    model.network.eval()
    again.network.eval()
    with torch.no_grad():
        first = model.family.log_probs(adapter.network, inputs)
        second = again.family.log_probs(again.network, inputs)
    assert torch.allclose(first, second)


@pytest.mark.parametrize("kind", ["lora", "bottleneck"])
def test_adapter_fine_tunes_the_trained_base(trained, shards, tmp_path, kind):
    base, _ = trained
    metrics = train(settings(model=str(base), adapter=kind, steps=2), str(shards), str(tmp_path))
    assert 0 < metrics["trainable_parameters"] < metrics["total_parameters"]
    model, adapter = load_trained(tmp_path)
    assert model.spec == str(base) and adapter.kind == kind


def test_full_training_refuses_a_character_whisper(shards, tmp_path):
    with pytest.raises(ValueError, match="adapter full"):
        train(
            settings(model="random:whisper?d_model=32&layers=1&window=2"),
            str(shards),
            str(tmp_path),
        )
