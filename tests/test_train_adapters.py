"""Adapters on tiny random models: loss falls, saved adapters reload exactly, S2-LoRA sparsity."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import shardkit
from voxsift.asr.adapters import adapter_config, attach, load_trained
from voxsift.asr.models import build_model
from voxsift.trainers.loop import AdapterTrainingRecipe
from voxsift.trainers.settings import TrainSettings

WHISPER = "random:whisper?window=2&d_model=32&layers=1"
CTC = "random:ctc?hidden=32&layers=1&conv=16"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=32, valid=8)


def settings(model: str, adapter: str, steps: int = 25, **extra) -> TrainSettings:
    return TrainSettings(
        model=model,
        adapter=adapter,
        steps=steps,
        lr=1e-2,
        warmup_steps=2,
        log_every=100,
        data={"batch_seconds": 6.0, "max_seconds": 2.0},
        eval={"max_new_tokens": 8},
        **extra,
    )


def train_and_reload(shards, out, config: TrainSettings):
    """Train, then rebuild base + adapter from the output folder; outputs on valid batches."""
    recipe = AdapterTrainingRecipe(config, str(shards), out)
    recipe.setup()
    before = recipe.evaluate()["loss"]
    metrics = recipe.train()
    model, adapter = load_trained(out)
    batch = next(b for b in recipe_valid_batches(recipe) if b.size)
    trained = recipe.model.family.per_sample_loss(recipe.network.eval(), batch.inputs)
    reloaded = model.family.per_sample_loss(adapter.network.eval(), batch.inputs)
    return before, metrics, trained, reloaded, (model, adapter, batch)


def recipe_valid_batches(recipe):
    from voxsift.trainers.shards import ShardBatches, make_loader

    dataset = ShardBatches(
        recipe.shards.valid, recipe.data_settings, recipe.model.family, 0, train=False
    )
    return make_loader(dataset, 0)


@pytest.mark.parametrize(
    ("model", "kind"), [(WHISPER, "lora"), (CTC, "bottleneck"), (CTC, "s2lora"), (CTC, "rslora")]
)
def test_loss_falls_and_saved_adapter_reloads_exactly(shards, tmp_path, model, kind):
    config = settings(model, kind, steps=25 if model == CTC else 30)
    before, metrics, trained, reloaded, _ = train_and_reload(shards, tmp_path, config)
    assert metrics["final_eval"]["loss"] < 0.9 * before
    assert metrics["loss_end"] < metrics["loss_start"]
    assert torch.equal(trained, reloaded)
    assert (tmp_path / "adapter_model.safetensors").exists()
    assert (tmp_path / "adapter_config.json").exists()


def test_merged_s2lora_matches_the_adapted_model(shards, tmp_path):
    _, _, trained, _, (model, adapter, batch) = train_and_reload(
        shards, tmp_path, settings(CTC, "s2lora", steps=6)
    )
    merged = adapter.merged().eval()
    assert not any("s2lora" in name for name, _ in merged.named_parameters())
    torch.testing.assert_close(model.family.per_sample_loss(merged, batch.inputs), trained)


def _trainable(model_spec: str, kind: str, texts=("one two", "three")) -> int:
    model = build_model(model_spec, texts=lambda: list(texts))
    return attach(model, adapter_config(settings(model_spec, kind), model)).counts()[0]


def test_s2lora_trains_fewer_parameters_than_lora_at_the_same_rank():
    assert _trainable(CTC, "s2lora") < _trainable(CTC, "lora")
    assert _trainable(WHISPER, "s2lora") < _trainable(WHISPER, "lora")


def test_s2lora_l1_drives_rank_coefficients_to_zero(shards, tmp_path):
    zeros = {}
    for l1 in (0.0, 1.0):
        recipe = AdapterTrainingRecipe(
            settings(CTC, "s2lora", steps=12, l1=l1), str(shards), tmp_path / str(l1)
        )
        recipe.setup()
        metrics = recipe.train()
        ranks = metrics["s2lora_active_ranks"]
        zeros[l1] = sum(8 - r for r in ranks.values()) / (8 * len(ranks))
    assert zeros[0.0] == 0.0
    assert zeros[1.0] > 0.5
