"""Exports read back by their consumers: NeMo manifest lines, a Lhotse CutSet, HF ``datasets``.

Lhotse and ``datasets`` (with torchcodec and FFmpeg for audio) are optional: their tests skip with
the reason when absent; what voxsift itself writes is checked either way.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from voxsift import audio, shardio
from voxsift.exports import ExportError, add_export_arguments, export, run_export
from voxsift.schema import SAMPLE_RATE


def _index(config) -> dict:
    return json.loads((Path(config.output) / "shards" / "index.json").read_text())


def _hf_ready() -> str | None:
    """Why ``datasets`` cannot decode audio here, or None when it can."""
    try:
        import datasets  # noqa: F401
        import torchcodec.decoders  # noqa: F401
    except (ImportError, OSError, RuntimeError) as error:
        return f"needs datasets and torchcodec 0.8 (install voxsift[hf]): {error}"
    if shutil.which("ffmpeg") is None:
        return "torchcodec needs FFmpeg (Debian package ffmpeg)"
    return None


def _shards_whose_fields_start_null(out: Path) -> None:
    """Six valid samples whose confidence and meta.snr_db are null in the first five only: the
    five that datasets' webdataset builder guesses column types from."""
    samples = []
    for i in range(6):
        tone = np.sin(np.arange(8000 + 800 * i) / 5.0).astype(np.float32) * 0.2
        fields = {
            "text": f"sample {i}",
            "weight": 1.0,
            "duration": (8000 + 800 * i) / 16000,
            "confidence": None if i < 5 else 0.75,
            "meta": {"condition": "clean", "snr_db": None if i < 5 else 10.0},
        }
        key = f"{i:024x}"
        samples.append(
            {"__key__": key, "flac": audio.encode_flac(tone), "json": shardio.encode_json(fields)}
        )
    folder = str(out / "shards")
    entries = [
        shardio.write_shard(folder, "valid-000000.tar", samples),
        shardio.write_shard(folder, "train-000000.tar", samples),
    ]
    (out / "shards" / "index.json").write_text(json.dumps(shardio.index_document(entries, "x")))


def test_nemo_manifest_points_at_decodable_audio(finished_run, tmp_path, capsys):
    config, _ = finished_run
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    dest = tmp_path / "nemo"
    assert run_export(parser.parse_args([config.output, "--to", "nemo", str(dest)])) == 0
    summary = json.loads(capsys.readouterr().out)
    index = _index(config)
    for split in ("train", "valid"):
        lines = (dest / f"{split}_manifest.jsonl").read_text().splitlines()
        assert len(lines) == index["splits"][split]["samples"] == summary["samples"][split]
        for line in lines:
            entry = json.loads(line)
            assert {"audio_filepath", "duration", "text", "weight"} <= set(entry)
            path = Path(entry["audio_filepath"])
            assert path.is_absolute() and path.parent == dest / "audio"
            audio, rate = soundfile.read(path)
            assert rate == SAMPLE_RATE and audio.ndim == 1
            assert abs(len(audio) / rate - entry["duration"]) < 1e-3
            assert isinstance(entry["text"], str) and entry["weight"] > 0
            assert entry.get("source", "").endswith(".flac")


def test_lhotse_without_lhotse_says_what_to_install(finished_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lhotse", None)
    with pytest.raises(ExportError, match=r"install voxsift\[lhotse\]"):
        export(finished_run[0].output, "lhotse", str(tmp_path / "lhotse"))


def test_lhotse_cutset_loads(finished_run, tmp_path):
    lhotse = pytest.importorskip("lhotse", reason="lhotse is missing: install voxsift[lhotse]")
    config, _ = finished_run
    dest = tmp_path / "lhotse"
    export(config.output, "lhotse", str(dest))
    index = _index(config)
    for split in ("train", "valid"):
        cuts = lhotse.CutSet.from_file(dest / f"cuts_{split}.jsonl.gz")
        assert len(cuts) == index["splits"][split]["samples"]
        for cut in cuts:
            assert cut.sampling_rate == SAMPLE_RATE and len(cut.supervisions) == 1
            assert cut.load_audio().shape == (1, cut.num_samples)
            assert "weight" in cut.supervisions[0].custom
        recordings = lhotse.RecordingSet.from_file(dest / f"recordings_{split}.jsonl.gz")
        assert sorted(recordings.ids) == sorted(cut.recording_id for cut in cuts)


def test_hf_layout_and_card(finished_run, tmp_path):
    config, _ = finished_run
    dest = tmp_path / "hf"
    summary = export(config.output, "hf", str(dest))
    index = _index(config)
    for entry in index["shards"]:
        data = (dest / "data" / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert summary["samples"] == {
        "train": index["splits"]["train"]["samples"],
        "validation": index["splits"]["valid"]["samples"],
    }
    card = (dest / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n") and "path: data/train-*.tar" in card
    front = yaml.safe_load(card.split("---\n")[1])
    assert summary["typed"] and front["dataset_info"]["features"][2] == {
        "name": "flac",
        "dtype": "audio",
    }
    files = ast.literal_eval(re.search(r"data_files = (\{.*\})", card).group(1))
    for split, pattern in files.items():
        prefix = "train" if split == "train" else "valid"
        assert sorted(Path(pattern).parent.glob(Path(pattern).name)) == sorted(
            dest / "data" / e["name"] for e in index["shards"] if e["split"] == prefix
        )


def test_hf_card_snippet_loads_with_datasets(finished_run, tmp_path, monkeypatch, capsys):
    reason = _hf_ready()
    if reason:
        pytest.skip(reason)
    import datasets

    config, _ = finished_run
    dest = tmp_path / "hf"
    export(config.output, "hf", str(dest))
    snippet = re.search(r"```python\n(.*?)```", (dest / "README.md").read_text(), re.S).group(1)
    for name in ("load_dataset", "load_dataset_builder"):
        cached = functools.partial(getattr(datasets, name), cache_dir=str(tmp_path / "cache"))
        monkeypatch.setattr(datasets, name, cached)
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    dataset, audio = scope["dataset"], scope["audio"]
    index = _index(config)
    assert dataset["train"].num_rows == index["splits"]["train"]["samples"]
    assert dataset["validation"].num_rows == index["splits"]["valid"]["samples"]
    assert audio.sample_rate == SAMPLE_RATE and audio.data.shape[-1] > 0
    for sample in dataset["validation"]:
        decoded = sample["flac"].get_all_samples()
        seconds = decoded.data.shape[-1] / decoded.sample_rate
        assert abs(seconds - sample["json"]["duration"]) < 1e-3
        assert isinstance(sample["json"]["text"], str) and sample["json"]["weight"] > 0
    assert capsys.readouterr().out.strip()


def test_hf_card_types_fields_that_are_null_in_the_first_samples(tmp_path, monkeypatch):
    _shards_whose_fields_start_null(tmp_path / "run")
    dest = tmp_path / "hf"
    assert export(str(tmp_path / "run"), "hf", str(dest))["typed"]
    front = yaml.safe_load((dest / "README.md").read_text().split("---\n")[1])
    fields = {f["name"]: f for f in front["dataset_info"]["features"][3]["struct"]}
    assert fields["confidence"] == {"name": "confidence", "dtype": "float64"}
    assert {"name": "snr_db", "dtype": "float64"} in fields["meta"]["struct"]
    reason = _hf_ready()
    if reason:
        pytest.skip(reason)
    import datasets

    loaded = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "cache"))
    assert loaded["validation"][5]["json"]["confidence"] == 0.75
    assert loaded["train"][5]["json"]["meta"]["snr_db"] == 10.0
