"""SIGKILL at several points of each stage, then --resume: byte-identical shards, nothing lost.

Also: the PortableRunner with the embedded job service gives the same shards as the DirectRunner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import corpus_config
from voxsift import shardio
from voxsift.pipelines import run

PORTABLE = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]


def _shards(out: str) -> dict[str, bytes]:
    folder = Path(out) / "shards"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "_SUCCESS"}


def _kill_when(config_path: Path, marker: Path, timeout: float = 120.0) -> bool:
    """Run ``voxsift run`` in a child and SIGKILL it as soon as ``marker`` exists.

    Returns whether the kill landed before the child finished on its own.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "voxsift.cli", "run", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        if marker.exists():
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return True
        time.sleep(0.005)
    child.wait()
    return False


@pytest.mark.parametrize(
    "marker",
    ["segments", "segments/_SUCCESS", "selection", "selection/_SUCCESS", "shards"],
)
def test_sigkill_then_resume_gives_identical_shards(finished_run, corpus, tmp_path, marker):
    reference_config, _ = finished_run
    config = corpus_config(corpus, tmp_path / "out")
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert _kill_when(config_path, tmp_path / "out" / marker), "the run ended before the kill"
    assert not (tmp_path / "out" / "run.json").exists()
    record = run.run_all(config, [], resume=True)
    assert _shards(config.output) == _shards(reference_config.output)
    assert shardio.verify(str(tmp_path / "out" / "shards")) == []
    assert not list((tmp_path / "out").rglob(".*.tmp-*"))
    assert record["stages"]["shard"]["counts"]["samples_written"] == 16


def test_portable_runner_gives_identical_shards(finished_run, corpus, tmp_path):
    reference_config, _ = finished_run
    config = corpus_config(corpus, tmp_path / "portable")
    run.run_all(config, PORTABLE, resume=False)
    assert _shards(config.output) == _shards(reference_config.output)
