"""Same inputs and config → byte-identical shards, on one process or two."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from conftest import MULTI_PROCESS, corpus_config
from voxsift.pipelines import run


def _shard_bytes(out: str) -> dict[str, bytes]:
    folder = Path(out) / "shards"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.name != "_SUCCESS"}


def _selection(out: str) -> list[dict]:
    rows = pq.read_table(Path(out) / "selection").to_pylist()
    return sorted(rows, key=lambda r: r["key"])


def test_rerun_and_multi_process_give_identical_shards(finished_run, corpus, tmp_path):
    first, _ = finished_run
    again = corpus_config(corpus, tmp_path / "again")
    run.run_all(again, [], resume=False)
    multi = corpus_config(corpus, tmp_path / "multi")
    run.run_all(multi, MULTI_PROCESS, resume=False)
    reference = _shard_bytes(first.output)
    assert len(reference) >= 3  # index.json and at least one train and one valid shard
    assert _shard_bytes(again.output) == reference
    assert _shard_bytes(multi.output) == reference
    assert _selection(multi.output) == _selection(first.output)


def test_resume_skips_finished_stages_and_reruns_changed_ones(corpus, tmp_path):
    config = corpus_config(corpus, tmp_path / "out")
    run.run_all(config, [], resume=False)
    skipped = run.run_all(config, [], resume=True)
    assert all(stage["skipped"] for stage in skipped["stages"].values())
    changed = corpus_config(corpus, tmp_path / "out", shard={"max_samples": 3})
    record = run.run_all(changed, [], resume=True)
    assert [s["skipped"] for s in record["stages"].values()] == [True, True, False]
    shards_before = skipped["stages"]["shard"]["counts"]["shards"]
    assert record["stages"]["shard"]["counts"]["shards"] > shards_before
