"""Training as a stage of ``voxsift run``: its marker, --resume, plain reruns, remote outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from test_remote_fs import MemoryFileSystem

import shardkit
from voxsift import io, shardio
from voxsift.config import ConfigError, parse_config
from voxsift.pipelines import train as train_stage
from voxsift.pipelines.stage import MARKER
from voxsift.trainers.loop import AdapterTrainingRecipe

TRAIN = {
    "model": "random:ctc?hidden=32&layers=1&conv=16",
    "steps": 4,
    "warmup_steps": 0,
    "save_every": 2,
    "log_every": 100,
    "data": {"batch_seconds": 4.0, "max_seconds": 2.0, "shuffle_buffer": 8},
    "eval": {"max_batches": 1, "max_new_tokens": 4},
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=16, valid=4)


def run_config(out: str, **train):
    return parse_config(
        {
            "input": [__file__],  # a file that exists; nothing here reads it
            "output": out,
            "select": {"method": "random"},
            "train": {**TRAIN, **train},
        }
    )


@pytest.fixture
def run_folder(shards, tmp_path) -> Path:
    """A run output whose shard stage has finished: OUT/shards as the shard stage wrote it."""
    shutil.copytree(shards, tmp_path / "run" / "shards")
    return tmp_path / "run"


def test_test_shards_are_the_format_the_shard_stage_writes(shards):
    assert shardio.verify(str(shards)) == []
    index = shardio.read_index(str(shards))
    assert index["format"] == shardio.FORMAT and index["splits"]["train"]["samples"] == 16


def test_resume_trains_a_fresh_output_then_skips_the_finished_training(run_folder, capsys):
    config = run_config(str(run_folder))
    first = train_stage.run(config, resume=True)
    adapter = run_folder / "adapter"
    assert not first["skipped"] and first["steps"] == 4
    marker = json.loads((adapter / MARKER).read_text())
    assert marker["fingerprint"] == train_stage.train_fingerprint(config)
    metrics = (adapter / "metrics.json").read_bytes()
    second = train_stage.run(config, resume=True)
    assert second["skipped"] and second["steps"] == 4 and second["out"] == first["out"]
    assert (adapter / "metrics.json").read_bytes() == metrics, "a skipped stage writes nothing"
    assert "skipping" in capsys.readouterr().err


def test_plain_rerun_trains_again_in_a_clean_folder(run_folder):
    config = run_config(str(run_folder))
    train_stage.run(config, resume=False)
    stale = run_folder / "adapter" / "stale.bin"
    stale.write_bytes(b"left by an earlier attempt")
    again = train_stage.run(config, resume=False)
    assert not again["skipped"] and again["steps"] == 4
    assert not stale.exists(), "a fresh training starts from an empty folder"


def test_resume_retrains_when_the_section_or_the_shards_change(run_folder):
    train_stage.run(run_config(str(run_folder)), resume=True)
    longer = train_stage.run(run_config(str(run_folder), steps=5), resume=True)
    assert not longer["skipped"] and longer["steps"] == 5
    index = run_folder / "shards" / "index.json"
    index.write_text(index.read_text() + "\n")  # the shard stage ran again
    assert not train_stage.run(run_config(str(run_folder), steps=5), resume=True)["skipped"]


def test_resume_continues_an_interrupted_training_from_its_checkpoint(run_folder, capsys):
    config = run_config(str(run_folder))
    whole = train_stage.run(config, resume=False)
    out = run_folder / "adapter"
    for name in os.listdir(out):  # as if the run had been killed after step 2
        if name not in (".voxsift", train_stage.STARTED):
            os.remove(out / name)
    stopped = AdapterTrainingRecipe(config.train, str(run_folder / "shards"), out, stop_after=2)
    stopped.setup()
    assert stopped.train()["steps"] == 2
    continued = train_stage.run(config, resume=True)
    assert "train (continued)" in capsys.readouterr().err
    assert continued["steps"] == 4 and continued["loss_end"] == pytest.approx(whole["loss_end"])


def test_train_output_must_be_a_folder_of_its_own():
    with pytest.raises(ConfigError, match=r"train\.output.*shards"):
        run_config("out", output="shards")
    for outside in ("../elsewhere", "/tmp/adapter", ".", "gs://bucket/adapter"):
        with pytest.raises(ConfigError, match=r"train\.output: must be a relative folder"):
            run_config("out", output=outside)


@pytest.fixture
def bucket():
    MemoryFileSystem.objects.clear()
    yield "memfs://bucket"
    MemoryFileSystem.objects.clear()


def test_training_into_a_remote_output(shards, bucket):
    for path in sorted(shards.iterdir()):
        MemoryFileSystem.put(f"{bucket}/run/shards/{path.name}", path.read_bytes())
    config = run_config(f"{bucket}/run")
    first = train_stage.run(config, resume=True)
    out = f"{bucket}/run/adapter"
    assert first["out"] == out and not first["skipped"]
    for name in ("metrics.json", MARKER, "checkpoint.pt", "adapter_model.safetensors"):
        assert io.exists(f"{out}/{name}"), name
    assert json.loads(io.read_text(f"{out}/metrics.json"))["steps"] == 4
    assert train_stage.run(config, resume=True)["skipped"]
