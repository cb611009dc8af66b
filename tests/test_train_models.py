"""Base models given as local checkpoint folders, the way hub models load (no network)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import shardkit
from voxsift.asr.adapters import load_trained
from voxsift.trainers.loop import AdapterTrainingRecipe
from voxsift.trainers.settings import TrainSettings


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=16, valid=4)


def whisper_checkpoint(folder):
    """A tiny Whisper with a byte-level BPE tokenizer holding Whisper's special tokens."""
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer = WhisperTokenizer(
        vocab={c: i for i, c in enumerate(bytes_to_unicode().values())}, merges=[]
    )
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{k}|>" for k in LANGUAGES),
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    eot, sot = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|startoftranscript|>"])
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=100,
        max_target_positions=64,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    WhisperFeatureExtractor(chunk_length=2).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def ctc_checkpoint(folder):
    """A tiny wav2vec 2.0 encoder saved without any tokenizer (as pre-trained encoders are)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    config = Wav2Vec2Config(
        vocab_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        mask_time_prob=0.0,
    )
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("build", [whisper_checkpoint, ctc_checkpoint])
def test_local_checkpoint_trains_and_its_adapter_reloads(shards, tmp_path, build):
    spec = build(tmp_path / "checkpoint")
    settings = TrainSettings(
        model=spec,
        steps=4,
        lr=1e-2,
        warmup_steps=0,
        merge=True,
        data={"batch_seconds": 6.0, "max_seconds": 2.0},
        eval={"max_new_tokens": 4},
    )
    recipe = AdapterTrainingRecipe(settings, str(shards), tmp_path / "out")
    recipe.setup()
    batch = next(b for b in recipe._train_batches() if b.size)
    recipe.network.eval()
    trained = recipe.model.family.per_sample_loss(recipe.network, batch.inputs)
    recipe.network.train()
    recipe.position = {"epoch": 0, "batches": 0}
    metrics = recipe.train()
    assert metrics["final_eval"]["samples"] == 4
    if recipe.model.new_head:
        assert recipe.model.vocab and "|" in recipe.model.vocab  # characters of the shards
    model, adapter = load_trained(tmp_path / "out")
    reloaded = model.family.per_sample_loss(adapter.network.eval(), batch.inputs)
    assert not torch.equal(trained, reloaded), "training should have changed the outputs"
    merged = recipe.model.network.eval()  # merge=True folded the adapter into the base
    torch.testing.assert_close(model.family.per_sample_loss(merged, batch.inputs), reloaded)
    assert (tmp_path / "out" / "merged" / "config.json").exists()
