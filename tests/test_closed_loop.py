"""Smoke test of the closed-loop benchmark: ``bench/closed_loop.py --small`` runs to the end.

It checks that the whole loop (world, base trained from scratch, curation, every selection
method, fine-tuning, scoring) runs and that its results are written, never which method wins:
the small mode's models are far too small to mean anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPARED = {
    "random",
    "confidence",
    "knn",
    "dsir",
    "nudge",
    "nudge+confidence",
    "target-only",
}


@pytest.mark.slow
def test_small_closed_loop_writes_results(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "closed_loop.py"), "--small"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [*command, "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
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
