"""The training loop: weights reach the loss, resume is exact, outputs and the CLI."""

from __future__ import annotations

import argparse
import io
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import yaml

import shardkit
from voxsift.trainers.cli import add_train_arguments, run_train, settings_from
from voxsift.trainers.loop import AdapterTrainingRecipe, weighted_loss
from voxsift.trainers.progress import Progress
from voxsift.trainers.settings import TrainSettings

CTC = "random:ctc?hidden=32&layers=1&conv=16"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=32, valid=8)


def settings(**extra) -> TrainSettings:
    base = dict(
        model=CTC,
        adapter="lora",
        steps=8,
        lr=1e-2,
        warmup_steps=2,
        log_every=100,
        dropout=0.1,
        grad_accum=2,
        save_every=3,
        data={"batch_seconds": 4.0, "max_seconds": 2.0, "shuffle_buffer": 8},
        eval={"max_new_tokens": 8},
    )
    return TrainSettings(**{**base, **extra})


def ready(shards, out, **extra) -> AdapterTrainingRecipe:
    recipe = AdapterTrainingRecipe(settings(**extra), str(shards), out)
    recipe.setup()
    return recipe


def first_batch(recipe):
    return next(b for b in recipe._train_batches() if b.size >= 2)


def test_zero_weights_leave_the_adapter_unchanged(shards, tmp_path):
    recipe = ready(shards, tmp_path)
    batch = first_batch(recipe)
    batch.weights.zero_()
    before = recipe.adapter.state()
    recipe.optimizer_step([batch])
    after = recipe.adapter.state()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_gradient_is_linear_in_each_sample_weight(shards, tmp_path):
    recipe = ready(shards, tmp_path, dropout=0.0)
    batch = first_batch(recipe)
    params = recipe.adapter.trainable()
    recipe.network.eval()  # no dropout: the same forward pass for every weighting

    def grad(weights):
        batch.weights = torch.tensor(weights)
        loss = weighted_loss(recipe.model, recipe.network, batch, batch.size)
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])

    ones = [1.0] * batch.size
    doubled = [2.0] + ones[1:]
    only_first = [1.0] + [0.0] * (batch.size - 1)
    torch.testing.assert_close(grad(doubled) - grad(ones), grad(only_first), atol=1e-6, rtol=1e-4)
    assert not torch.allclose(grad(doubled), grad(ones))


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_reaches_the_parameters_of_an_uninterrupted_run(tmp_path, workers):
    shards = shardkit.write_shards(tmp_path / "shards", train=16, valid=4, per_shard=8, bad_audio=2)
    data = {"batch_seconds": 4.0, "max_seconds": 2.0, "shuffle_buffer": 8, "num_workers": workers}
    whole = ready(shards, tmp_path / "whole", data=data)
    uninterrupted = whole.train()
    cut = settings(data=data)
    first = AdapterTrainingRecipe(cut, str(shards), tmp_path / "cut", stop_after=5)
    first.setup()
    stopped = first.train()
    assert not stopped["finished"] and not (tmp_path / "cut" / "metrics.json").exists()
    second = AdapterTrainingRecipe(cut, str(shards), tmp_path / "cut", resume=True)
    second.setup()
    assert second.position["epoch"] >= 1, "the run should have crossed an epoch boundary"
    metrics = second.train()
    expected, got = whole.adapter.state(), second.adapter.state()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert metrics["loss_curve"] == uninterrupted["loss_curve"]
    # two junk clips met once per epoch in both epochs read; none counted twice on resume
    assert metrics["dropped"] == uninterrupted["dropped"] == {"bad_audio": 4}


def test_outputs_metrics_and_a_weights_only_checkpoint(shards, tmp_path):
    evaluation = {"every": 2, "max_batches": 1, "max_new_tokens": 4}
    recipe = ready(shards, tmp_path, steps=3, warmup_steps=1, eval=evaluation)
    recipe.train()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["finished"] and metrics["steps"] == 3
    assert [e["step"] for e in metrics["eval"]] == [2, 3]
    assert {"wer", "cer", "loss"} <= set(metrics["final_eval"])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and "optimizer" in state and "scheduler" in state
    with pytest.raises(FileExistsError, match="--resume"):
        AdapterTrainingRecipe(settings(), str(shards), tmp_path)


def parse(argv):
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(argv)


def test_config_values_are_checked_and_named(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"output": str(tmp_path), "train": {"lr": -1}}))
    with pytest.raises(ValueError, match=r"train\.lr"):
        settings_from(parse([str(config)]))
    config.write_text(yaml.safe_dump({"output": str(tmp_path), "train": {"ranks": 4}}))
    with pytest.raises(ValueError, match=r"train\.ranks"):
        settings_from(parse([str(config)]))
    with pytest.raises(ValueError, match="--shards"):
        settings_from(parse(["--steps", "3"]))


def test_voxsift_train_from_a_run_config(shards, tmp_path):
    config = tmp_path / "run.yaml"
    train = {
        "model": CTC,
        "steps": 2,
        "warmup_steps": 0,
        "output": "adapters/tones",
        "data": {"batch_seconds": 4.0, "max_seconds": 2.0},
    }
    config.write_text(yaml.safe_dump({"output": str(tmp_path), "train": train}))
    (tmp_path / "shards").symlink_to(shards)
    assert run_train(parse([str(config), "--adapter", "bottleneck"])) == 0
    out = tmp_path / "adapters" / "tones"
    assert json.loads((out / "metrics.json").read_text())["adapter"] == "bottleneck"
    assert (out / "adapter_model.safetensors").exists()


def test_progress_is_quiet_in_logs_but_for_every_nth_and_last_step():
    stream = io.StringIO()
    progress = Progress(first_step=1, total=7, every=3, stream=stream)
    for step in range(1, 8):
        progress.update(step, loss=1.0, audio_seconds=2.0, lr=1e-3)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["3/7", "6/7", "7/7"]
    assert all("s/s" in line and "eta" in line for line in lines)
