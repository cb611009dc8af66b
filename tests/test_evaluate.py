"""``voxsift evaluate``: scores of a model or a trained adapter on a manifest or a shard folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import soundfile
import torch
from test_train_models import ctc_checkpoint, whisper_checkpoint
from torch import nn

import shardkit
from voxsift import cli, shardio
from voxsift.espeak import speak
from voxsift.trainers import evaluate as ev
from voxsift.trainers.loop import train
from voxsift.trainers.settings import TrainSettings

WHISPER = "random:whisper?window=2&d_model=32&layers=1&max_tokens=24"
PARAKEET = "random:parakeet?hidden=32&layers=1&channels=8"
SPOKEN = [
    ("The cat sat on the mat.", "clean", 160),
    ("Open the red door.", "fast", 300),
    ("Twelve green bottles.", "clean", 160),
    ("Please call me back.", "fast", 300),
]
BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Four espeak lines with a condition, then a line without text, a missing file, bad JSON."""
    folder = tmp_path_factory.mktemp("manifest")
    (folder / "audio").mkdir()
    lines = []
    for number, (text, condition, rate) in enumerate(SPOKEN):
        samples, sample_rate = speak(text, "en-us", rate)
        soundfile.write(folder / "audio" / f"{number}.wav", samples, sample_rate)
        lines.append({"audio": f"audio/{number}.wav", "text": text, "condition": condition})
    lines.append({"audio": "audio/0.wav", "condition": "clean"})
    lines.append({"audio": "audio/gone.wav", "text": "not there", "condition": "clean"})
    path = folder / "test.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return shardkit.write_shards(tmp_path_factory.mktemp("shards"), train=24, valid=8)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> tuple[Path, dict]:
    """A LoRA adapter on a tiny random Whisper, trained by voxsift's trainer, and its metrics."""
    out = tmp_path_factory.mktemp("adapter")
    settings = TrainSettings(
        model=WHISPER,
        adapter="lora",
        steps=6,
        lr=1e-2,
        warmup_steps=2,
        log_every=100,
        data={"batch_seconds": 6.0, "max_seconds": 2.0},
        eval={"max_new_tokens": 8},
    )
    return out, train(settings, str(shards), str(out))


def evaluate_cli(capsys, *argv: str) -> tuple[int, str, list[str]]:
    code = cli.main(["evaluate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


# ---- scoring ----------------------------------------------------------------------------


def test_perfect_hypotheses_score_zero_and_the_groups_add_up():
    refs = ["one two three four", "five six", "Twelve apples, please!"]
    result = ev.score(refs, ["one two three four", "five six", "12 apples please"], "aab")
    assert (result["wer"], result["cer"], result["n"]) == (0.0, 0.0, 3)
    assert {g: cell["n"] for g, cell in result["by"].items()} == {"a": 2, "b": 1}


def test_errors_are_counted_over_the_corpus_and_per_group():
    refs = ["one two three four", "five six"]
    result = ev.score(refs, ["one two three for", "five six"], ["x", "y"])
    assert result["wer"] == pytest.approx(1 / 6)
    assert result["by"]["x"]["wer"] == pytest.approx(1 / 4)
    assert result["by"]["y"] == {"wer": 0.0, "cer": 0.0, "n": 1}
    assert ev.score(refs, refs)["by"] == {}


class LengthFamily:
    """A model family whose 'transcript' of a clip is its length; it records each batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def collate(self, audio, texts):
        return {"lengths": torch.tensor([len(a) for a in audio])}

    def transcribe(self, network, inputs, max_new_tokens):
        self.batches.append(inputs["lengths"].tolist())
        return [str(n) for n in network(inputs["lengths"]).tolist()]


def test_clips_are_batched_longest_first_and_answered_in_their_order():
    family = LengthFamily()
    audio = [np.zeros(n, dtype=np.float32) for n in (3, 9, 1, 7, 5)]
    hypotheses = ev.transcribe(SimpleNamespace(family=family), nn.Identity(), audio, 2)
    assert hypotheses == ["3", "9", "1", "7", "5"]
    assert family.batches == [[9, 7], [5, 3], [1]]


def test_a_group_comes_from_the_field_or_a_samples_meta():
    sample = {"source": "tone", "meta": {"condition": "telephone", "snr": 10}}
    assert ev.group_of(sample, "source", "meta") == "tone"
    assert ev.group_of(sample, "condition", "meta") == "telephone"
    assert ev.group_of(sample, "snr", "meta") == "10"
    assert ev.group_of(sample, "condition") == ev.NO_VALUE  # a manifest line has no meta
    assert ev.group_of(sample, None) is None


# ---- the command ------------------------------------------------------------------------


def test_random_model_on_a_manifest_by_condition(manifest, tmp_path, capsys):
    out = tmp_path / "scores.json"
    argv = ["--model", PARAKEET, "--data", str(manifest), "--by", "condition", "--out", str(out)]
    code, printed, err = evaluate_cli(capsys, *argv)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["n"] == 4 and report["format"] == "manifest" and report["model"] == PARAKEET
    assert set(report["by"]) == {"clean", "fast"}
    assert sum(cell["n"] for cell in report["by"].values()) == report["n"]
    assert all(set(cell) == {"wer", "cer", "n"} for cell in report["by"].values())
    assert report["skipped"] == {"malformed_line": 1, "no_text": 1, "unreadable_audio": 1}
    assert len(report["skipped_examples"]) == 3
    assert report["cer"] > 0.0 and report["audio_seconds"] > 2.0
    assert "condition" in printed and "unreadable_audio 1" in printed


def test_adapter_scores_as_the_trainer_scored_its_valid_shards(trained, shards, tmp_path, capsys):
    folder, metrics = trained
    out = tmp_path / "scores.json"
    argv = ["--adapter", str(folder), "--data", str(shards), "--split", "valid"]
    code, _, err = evaluate_cli(capsys, *argv, "--max-new-tokens", "8", "--out", str(out))
    assert code == 0, err
    report, final = json.loads(out.read_text()), metrics["final_eval"]
    assert report["n"] == final["samples"] == 8
    assert report["wer"] == pytest.approx(final["wer"])
    assert report["cer"] == pytest.approx(final["cer"])
    assert (report["model"], report["adapter_kind"]) == (WHISPER, "lora")


def test_shards_by_a_sample_field_and_the_adapters_own_base(trained, shards, tmp_path, capsys):
    folder, _ = trained
    out = tmp_path / "scores.json"
    argv = ["--model", WHISPER, "--adapter", str(folder), "--data", str(shards / "index.json")]
    code, _, err = evaluate_cli(capsys, *argv, "--by", "source", "--max-new-tokens", "2")
    assert code == 0, err
    argv = ["--model", WHISPER, "--data", str(shards), "--max-new-tokens", "2"]
    code, _, err = evaluate_cli(capsys, *argv, "--out", str(out))
    report = json.loads(out.read_text())
    assert code == 0 and report["n"] == 32 and report["adapter"] is None, err


@pytest.mark.parametrize("build", ["whisper", "ctc", "ctc_with_tokenizer"])
def test_local_checkpoint_folders(build, shards, tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    if build == "whisper":
        spec = whisper_checkpoint(folder)
    elif build == "ctc":
        spec = ctc_checkpoint(folder)
    else:  # what train --adapter full writes: a character tokenizer beside the weights
        from voxsift.asr.export import save_model
        from voxsift.asr.models import build_model

        save_model(
            build_model("random:ctc?hidden=32&layers=1&conv=16", texts=lambda: ["ab"]), folder
        )
        spec = str(folder)
    out = tmp_path / "scores.json"
    argv = ["--model", spec, "--data", str(shards), "--split", "valid", "--max-new-tokens", "4"]
    code, _, err = evaluate_cli(capsys, *argv, "--out", str(out))
    assert code == 0, err
    assert json.loads(out.read_text())["n"] == 8


def test_the_bench_scores_through_the_library(trained, shards):
    sys.path.insert(0, str(BENCH))
    try:
        from closed_loop_eval import TestSet, error_rates, model_error_rates
    finally:
        sys.path.remove(str(BENCH))
    folder, _ = trained
    index = shardio.read_index(str(shards))
    samples = [
        (shardio.decode_flac(flac), fields["text"])
        for entry in index["shards"]
        if entry["split"] == "valid"
        for flac, fields in shardio.read_shard(str(shards), entry).values()
    ]
    test = TestSet("valid", [a for a, _ in samples], [t for _, t in samples])
    scores = error_rates(folder, [test])
    model, network, _ = ev.load_model(adapter=str(folder))
    expected = ev.score(test.texts, ev.transcribe(model, network, test.audio))
    assert scores == {"valid": {"wer": expected["wer"], "cer": expected["cer"]}}
    model, network, _ = ev.load_model(PARAKEET, texts=test.texts)
    expected = ev.score(test.texts, ev.transcribe(model, network, test.audio))
    scores = model_error_rates(PARAKEET, [test])
    assert scores == {"valid": {"wer": expected["wer"], "cer": expected["cer"]}}


def _empty(tmp_path: Path) -> str:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    return str(path)


BAD = {  # case: (the options, given the manifest, adapter and a bare folder; words of the error)
    "missing data": (
        lambda m, a, t: ["--model", PARAKEET, "--data", str(t / "no.jsonl")],
        "no such",
    ),
    "empty data": (lambda m, a, t: ["--model", PARAKEET, "--data", _empty(t)], "no sample"),
    "no shards": (lambda m, a, t: ["--model", PARAKEET, "--data", str(t)], "without index.json"),
    "unknown random": (lambda m, a, t: ["--model", "random:nope", "--data", str(m)], "random mod"),
    "no model there": (lambda m, a, t: ["--model", str(t / "x"), "--data", str(m)], "cannot be lo"),
    "no model": (lambda m, a, t: ["--data", str(m)], "give --model"),
    "adapter as model": (lambda m, a, t: ["--model", str(a), "--data", str(m)], "pass --adapter"),
    "not an adapter": (lambda m, a, t: ["--adapter", str(t), "--data", str(m)], "no voxsift_ad"),
    "another base": (
        lambda m, a, t: ["--model", PARAKEET, "--adapter", str(a), "--data", str(m)],
        f"was trained on {WHISPER!r}",
    ),
    "another language": (
        lambda m, a, t: ["--adapter", str(a), "--language", "de", "--data", str(m)],
        "--language en, not de",
    ),
    "batch size": (
        lambda m, a, t: ["--model", PARAKEET, "--data", str(m), "--batch-size", "0"],
        "--batch-size 0",
    ),
    "out folder": (
        lambda m, a, t: ["--model", PARAKEET, "--data", str(m), "--out", str(t / "x/y")],
        "does not exist",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_exit_2_with_one_line(case, manifest, trained, tmp_path, capsys):
    options, words = BAD[case]
    code, printed, err = evaluate_cli(capsys, *options(manifest, trained[0], tmp_path))
    assert (code, printed) == (2, ""), err
    assert len(err) == 1 and err[0].startswith("voxsift: ") and words in err[0], err


def test_a_fully_trained_model_is_its_own_base(tmp_path, monkeypatch):
    info = {"voxsift_adapter": "full", "base": {"spec": PARAKEET}, "language": "en"}
    (tmp_path / "voxsift_adapter.json").write_text(json.dumps(info))
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path.parent)
    for model in (None, PARAKEET, str(tmp_path), tmp_path.name):
        assert ev.check(ev.EvaluateRequest("d", model=model, adapter=str(tmp_path))) == PARAKEET
    with pytest.raises(ValueError, match="was trained on"):
        ev.check(ev.EvaluateRequest("d", model=WHISPER, adapter=str(tmp_path)))


def test_manifest_audio_gets_curates_default_loudness():
    from voxsift.audio import MAX_GAIN_DB, TARGET_LUFS
    from voxsift.transforms.settings import LoudnessSettings

    defaults = LoudnessSettings()
    assert (defaults.target_lufs, defaults.max_gain_db) == (TARGET_LUFS, MAX_GAIN_DB)


def test_an_absent_gpu_falls_back_to_the_cpu(monkeypatch, caplog):
    monkeypatch.setattr(ev.torch.cuda, "is_available", lambda: False)
    assert ev.pick_device("cuda").type == "cpu"
    assert "no GPU" in caplog.text
    assert ev.pick_device("cpu").type == "cpu"


_PROBE = """
import json, sys
from voxsift.cli import build_parser
try:
    build_parser().parse_args(["evaluate", "--help"])
except SystemExit:
    pass
heavy = ("torch", "apache_beam", "transformers", "numpy")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_help_explains_every_option_without_importing_torch():
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
    for option in ("--model", "--adapter", "--data", "--by", "--split", "--out", "--device"):
        assert option in done.stdout
    assert done.stdout.count("default") >= 4
