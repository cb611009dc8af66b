"""The whole chain on a synthesized corpus, read back with the webdataset library."""

from __future__ import annotations

import io
import json
from pathlib import Path

import soundfile
import webdataset

from voxsift import shardio
from voxsift.schema import SAMPLE_RATE


def _manifest_texts(corpus: Path) -> dict[str, str]:
    texts = {}
    for line in (corpus / "pool.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "text" in entry:
            texts[str((corpus / entry["audio"]).resolve())] = entry["text"]
    return texts


def test_shards_read_back_with_webdataset(finished_run, corpus):
    config, record = finished_run
    folder = Path(config.output) / "shards"
    urls = shardio.shard_urls(str(folder), "train") + shardio.shard_urls(str(folder), "valid")
    assert urls and all(Path(u).exists() for u in urls)
    samples = list(webdataset.WebDataset(urls, shardshuffle=False).decode())
    assert len(samples) == record["stages"]["shard"]["counts"]["samples_written"] == 16
    texts = _manifest_texts(corpus)
    survived = 0
    for sample in samples:
        audio, rate = soundfile.read(io.BytesIO(sample["flac"]), dtype="float32")
        assert rate == SAMPLE_RATE and audio.ndim == 1
        fields = sample["json"]
        assert abs(len(audio) / SAMPLE_RATE - fields["duration"]) < 0.01
        assert 0 < fields["weight"] <= 1.0 and fields["method"] == "random"
        assert fields["meta"]["condition"]
        if fields["text_status"] == "reference":
            assert fields["text"] == texts[fields["source"]]
            survived += 1
    assert survived > 0


def test_counts_in_run_json_add_up(finished_run):
    config, record = finished_run
    stored = json.loads((Path(config.output) / "run.json").read_text())
    assert stored["stages"] == record["stages"]
    curate = stored["stages"]["curate"]["counts"]
    assert curate["inputs"] == 30
    assert curate["inputs"] == curate["inputs_kept"] + curate["inputs_rejected"]
    assert curate["segments_made"] == curate["segments_kept"] + curate["segments_rejected"]
    select = stored["stages"]["select"]["counts"]
    assert select["rows"] == curate["segments_kept"]
    assert sum(select["by_reason"].values()) == select["rows"]
    shard = stored["stages"]["shard"]["counts"]
    assert shard["samples_written"] == select["selected"] == 16
    assert shard["train_samples"] + shard["valid_samples"] == 16
    assert stored["versions"]["apache-beam"] and stored["config"]["output"] == config.output


def test_verify_accepts_the_run_and_catches_tampering(finished_run, tmp_path):
    config, _ = finished_run
    folder = Path(config.output) / "shards"
    assert shardio.verify(str(folder)) == []
    copy = tmp_path / "shards"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    victim = copy / "train-000000.tar"
    data = bytearray(victim.read_bytes())
    data[2000] ^= 0xFF
    victim.write_bytes(bytes(data))
    (copy / "train-999999.tar").write_bytes(b"")
    problems = shardio.verify(str(copy))
    assert any("train-000000.tar: sha256" in p for p in problems)
    assert any("train-999999.tar: on disk but not in the index" in p for p in problems)
