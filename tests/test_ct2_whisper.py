"""The packaged Whisper tiny.en converted into transformers (bench/ct2_whisper.py).

The converter reads CTranslate2's ``model.bin``; the converted model must decode real recorded
English prompts (Debian's Asterisk prompts, the tests' half "a") greedily to exactly faster-
whisper's greedy text, load through voxsift's own model loading and train with LoRA. Skipped
without the model package or the prompts, except under CI (tests/realspeech.py).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from realspeech import require_prompts, require_whisper

import shardkit
from voxsift.asr.adapters import load_trained
from voxsift.asr.models import build_model
from voxsift.trainers.loop import AdapterTrainingRecipe
from voxsift.trainers.settings import TrainSettings

BENCH = Path(__file__).resolve().parents[1] / "bench"
PROMPTS = 5
SOT, NO_TIMESTAMPS = 50257, 50362


def converter():
    sys.path.insert(0, str(BENCH))
    try:
        import ct2_whisper
    finally:
        sys.path.remove(str(BENCH))
    return ct2_whisper


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    require_whisper("tiny.en")
    require_prompts("en")
    ct2 = converter()
    out = tmp_path_factory.mktemp("ct2") / "whisper-tiny.en"
    return ct2, ct2.convert(out, check_prompts=PROMPTS, part="a")


def _string(text: str) -> bytes:
    return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"


def test_reader_takes_the_serialized_format_with_its_aliases(tmp_path):
    """A model.bin written as CTranslate2's ``ModelSpec._serialize`` writes one (binary v6)."""
    ct2 = converter()
    weight = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    data = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 3, 1)
    data += _string("decoder/embeddings/weight") + struct.pack("<BII", 2, 2, 3)
    data += struct.pack("<BI", 4, 12) + weight.numpy().tobytes()
    data += struct.pack("<I", 1) + _string("decoder/projection/weight")
    data += _string("decoder/embeddings/weight")
    (tmp_path / "model.bin").write_bytes(data)
    model = ct2.read_ct2(tmp_path / "model.bin")
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert torch.equal(model.variables["decoder/projection/weight"], weight)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    (tmp_path / "model.bin").write_bytes(data[:-5])
    with pytest.raises(ct2.ConversionError, match="no CTranslate2 model.bin"):
        ct2.read_ct2(tmp_path / "model.bin")


def test_greedy_transcripts_equal_faster_whispers(converted):
    ct2, folder = converted
    stamp = ct2.read_stamp(folder)
    check = stamp["check"]
    assert check["prompts"] == PROMPTS
    assert check["equal_on_faster_whisper_input"] == PROMPTS
    assert check["equal_on_transformers_input"] == PROMPTS
    assert check["max_logit_difference"] < 1e-3  # float32 both: ~6e-5 measured
    assert stamp["dims"]["d_model"] == 384 and stamp["dims"]["vocab_size"] == 51864
    written = (folder / ct2.STAMP).stat().st_mtime_ns
    assert ct2.convert(folder, check_prompts=PROMPTS) == folder  # stamped: reused
    assert (folder / ct2.STAMP).stat().st_mtime_ns == written


def test_voxsift_loads_it_and_one_lora_step_trains_it(converted, tmp_path):
    _, folder = converted
    model = build_model(str(folder))
    assert model.family.codec.prompt == [SOT, NO_TIMESTAMPS]  # English-only: no language token
    assert model.family.window_seconds == 30.0
    shards = shardkit.write_shards(tmp_path / "shards", train=4, valid=2)
    settings = TrainSettings(
        model=str(folder),
        adapter="lora",
        steps=1,
        lr=1e-3,
        warmup_steps=0,
        data={"batch_seconds": 30.0},
        eval={"max_new_tokens": 4},
    )
    recipe = AdapterTrainingRecipe(settings, str(shards), tmp_path / "out")
    recipe.setup()
    batch = next(b for b in recipe._train_batches() if b.size)
    recipe.network.eval()
    before = recipe.model.family.per_sample_loss(recipe.network, batch.inputs)
    recipe.network.train()
    recipe.position = {"epoch": 0, "batches": 0}
    metrics = recipe.train()
    assert metrics["final_eval"]["samples"] == 2
    reloaded, adapter = load_trained(tmp_path / "out")
    after = reloaded.family.per_sample_loss(adapter.network.eval(), batch.inputs)
    assert not torch.equal(before, after), "one LoRA step should have changed the outputs"
