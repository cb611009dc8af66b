"""Shared fixtures: a small synthesized corpus and a helper that runs the whole chain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from voxsift.config import RunConfig, parse_config  # noqa: E402
from voxsift.pipelines import run  # noqa: E402

IN_PROCESS: list[str] = []
MULTI_PROCESS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 pool and 6 target utterances from the demo synthesizer, half of the pool labeled."""
    from voxsift.synth import synthesize

    folder = tmp_path_factory.mktemp("corpus")
    synthesize(str(folder), utterances=24, seed=3, target_utterances=6, labeled_fraction=0.5)
    return folder


def corpus_config(corpus: Path, out: Path, **sections) -> RunConfig:
    data = {
        "input": [str(corpus / "pool.jsonl")],
        "target": [str(corpus / "target.jsonl")],
        "output": str(out),
        "select": {"method": "random", "budget_count": 16, "seed": 1},
        "shard": {"max_samples": 6, "valid_fraction": 0.2},
    }
    data.update(sections)
    return parse_config(data)


@pytest.fixture(scope="session")
def finished_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, dict]:
    """One in-process run over the corpus, shared by the tests that only read its outputs."""
    config = corpus_config(corpus, tmp_path_factory.mktemp("run"))
    return config, run.run_all(config, IN_PROCESS, resume=False)
