"""Smoke test of the closed-loop benchmark: ``bench/closed_loop.py --small`` runs to the end.

It checks that the whole loop (world, base trained from scratch, curation by the real Whisper
tiny.en teacher, every selection method, fine-tuning, scoring, a budget sweep and its plot) runs
and that its results are written, then the real Whisper tiny.en student on two methods; never
which method wins: the small mode's sizes are far too small to mean anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from realspeech import require_prompts, require_whisper

ROOT = Path(__file__).resolve().parents[1]
COMPARED = {
    "random",
    "confidence",
    "knn",
    "dsir",
    "nudge",
    "nudge+confidence",
    "knn+label",
    "dsir+label",
    "nudge+label",
    "nudge+label+calibrated",
    "target-only",
}


def _loop(out: Path, *options: str) -> None:
    command = [sys.executable, str(ROOT / "bench" / "closed_loop.py"), "--small", *options]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


@pytest.mark.slow
def test_small_closed_loop_writes_results(tmp_path):
    require_whisper("tiny.en")
    _loop(tmp_path, "--teacher", "whisper-tiny.en", "--budgets", "24")
    result = json.loads((tmp_path / "results.json").read_text())
    ran = {row["method"] for row in result["rows"]}
    assert ran | set(result["skipped"]) == COMPARED
    assert ran, f"every method was skipped: {result['skipped']}"
    for row in result["rows"]:
        assert row["target_cer"] >= 0.0 and row["source_cer"] >= 0.0
    assert result["base"]["target_cer"] >= 0.0
    markdown = (tmp_path / "results.md").read_text()
    assert "| method | target CER | source CER |" in markdown
    assert all(f"| {method} |" in markdown for method in ran)
    assert result["teacher"] == "faster-whisper:tiny.en"
    swept = {(row["method"], row["budget"]) for row in result["sweep"]}
    assert ("random", 24) in swept and len(swept) == 2, swept  # random and the best method
    assert (tmp_path / "results-budgets.png").stat().st_size > 0

    # the real Whisper tiny.en student (converted from the packaged CTranslate2 model and
    # checked against faster-whisper) on the same curated pool
    require_prompts("en")
    _loop(tmp_path, "--teacher", "whisper-tiny.en", "--student", "whisper-tiny.en",
          "--methods", "random", "nudge+label")  # fmt: skip
    whisper = json.loads((tmp_path / "results-whisper-tiny.en.json").read_text())
    assert whisper["student"] == "whisper-tiny.en"
    assert {row["method"] for row in whisper["rows"]} == {"random", "nudge+label"}
    assert whisper["base"]["target_cer"] < 1.0  # a real pretrained model transcribes
