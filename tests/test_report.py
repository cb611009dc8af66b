"""The HTML report: every section with real numbers, for a real run and for a run with every column.

The real run (conftest's ``finished_run``) has whatever curate steps are wired; the filled run is
written here through the schemas with every later column set, so each figure and table is drawn.
Both pages are rendered in headless Chromium when it is installed; screenshots land in
``test-artifacts/``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from voxsift import audio
from voxsift.report import add_report_arguments, run_report, write_report
from voxsift.report.html import number
from voxsift.schema import REJECT_SCHEMA, SEGMENT_SCHEMA, SELECTION_SCHEMA, segment_key

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HEADINGS = [
    "Counts per stage and reject reasons",
    "Duration",
    "Hours by language",
    "SNR before and after enhancement",
    "Teacher confidence",
    "Label calibration",
    "Selection scores",
    "Embedding map (PCA)",
    "OT distance to the target",
    "Composition by ground-truth field",
    "Training curves",
    "Highest and lowest scored samples",
]
CONDITIONS = ("clean", "noisy", "telephone")


def _segment_rows(rng: np.random.Generator) -> list[dict]:
    rows = []
    for i in range(48):
        role = "target" if i >= 40 else "pool"
        condition = "telephone" if role == "target" else CONDITIONS[i % 3]
        seconds = 0.5 + 0.05 * i
        tone = np.sin(2 * np.pi * (200 + 10 * i) * np.arange(int(seconds * 16000)) / 16000)
        flac = audio.encode_flac((0.3 * tone).astype(np.float32))
        before = float(rng.uniform(0, 20))
        shift = 1.0 if condition == "telephone" else 0.0
        rows.append(
            {
                "key": segment_key(f"memory://{i}.wav", 0.0, seconds),
                "role": role,
                "source": f"memory://{i}.wav",
                "start": 0.0,
                "end": seconds,
                "duration": seconds,
                "sample_rate": 16000,
                "audio": flac,
                "audio_bytes": len(flac),
                "text": f"utterance number {i}" if i % 2 else None,
                "text_status": "reference",
                "metadata": json.dumps({"condition": condition, "ref_text": f"utterance {i}"}),
                "enhancement": "rnnoise" if before < 10 else "none",
                "snr_before_db": before,
                "snr_after_db": before + (5.0 if before < 10 else 0.0),
                "confidence": float(rng.uniform(0.2, 1.0)),
                "pseudo_text": f"pseudo {i}",
                "detected_language": "fr" if i % 5 == 0 else "en",
                "language_probability": 0.9,
                "label_wer": float(rng.uniform(0, 0.6)) if i % 2 else None,
                "embedding": (rng.normal(size=16) + shift).astype(np.float32).tolist(),
            }
        )
    return rows


def _selection_rows(segments: list[dict]) -> list[dict]:
    pool = sorted((r for r in segments if r["role"] == "pool"), key=lambda r: r["key"])
    rows = [
        {
            "key": r["key"],
            "role": "target",
            "selected": False,
            "reason": "target_not_included",
            "method": "nudge",
            "duration": r["duration"],
            "weight": 1.0,
        }
        for r in segments
        if r["role"] == "target"
    ]
    for rank, row in enumerate(pool):
        rows.append(
            {
                "key": row["key"],
                "role": "pool",
                "selected": rank < 20,
                "reason": "selected" if rank < 20 else "over_budget",
                "method": "nudge",
                "duration": row["duration"],
                "weight": row["confidence"],
                "score": -1.0 + rank / 10,
                "rank": rank,
                "expected_wer": 0.0 if row["text"] else 1.0 - row["confidence"],
            }
        )
    return rows


def write_filled_run(out: Path) -> dict:
    """A run folder whose every column and side file is filled; returns the numbers it holds."""
    rng = np.random.default_rng(0)
    segments = _segment_rows(rng)
    for folder, rows, schema in (
        ("segments", segments, SEGMENT_SCHEMA),
        ("selection", _selection_rows(segments), SELECTION_SCHEMA),
        (
            "rejects",
            [
                {
                    "stage": "curate",
                    "role": "pool",
                    "source": "x.wav",
                    "reason": "undecodable",
                    "error": "bad",
                }
            ]
            * 3,
            REJECT_SCHEMA,
        ),
    ):
        (out / folder).mkdir(parents=True)
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, out / folder / "part-00000-of-00001.parquet")
    ot = {
        "measure": "sinkhorn_divergence",
        "epsilon": 0.1,
        "target_to_pool": 0.8125,
        "target_to_selected": 0.4375,
        "samples": {"target": 8, "pool": 40, "selected": 20},
    }
    calibration = {
        "method": "isotonic",
        "reason": None,
        "segments": 24,
        "spearman": -0.8125,
        "mean_label_wer": 0.3125,
        "expected_wer_range": [0.0625, 0.5625],
        "fill_expected_wer": 0.28125,
        "held_out": {"segments": 5, "mae": 0.09375, "mae_of_mean": 0.15625},
        "curve": {"confidence": [0.25, 0.5, 0.75], "expected_wer": [0.5625, 0.3125, 0.0625]},
        "mean_expected_wer": {"candidates": 0.28125, "selected": 0.15625},
    }
    stages = {
        "curate": {
            "counts": {
                "inputs": 51,
                "inputs_kept": 48,
                "inputs_rejected": 3,
                "rejected_by_reason": {"undecodable": 3},
            },
            "seconds": 1.5,
        },
        "select": {
            "counts": {
                "rows": 48,
                "selected": 20,
                "diagnostics": {"ot": ot, "calibration": calibration},
            },
            "seconds": 0.5,
        },
    }
    (out / "run.json").write_text(json.dumps({"config_hash": "f" * 32, "stages": stages}))
    metrics = {
        "model": "random:ctc",
        "adapter": "lora",
        "steps": 4,
        "loss_start": 3.25,
        "loss_end": 1.5,
        "loss_curve": [[1, 3.5], [2, 3.0], [3, 2.0], [4, 1.5]],
        "eval": [
            {"step": 2, "loss": 2.75, "wer": 0.875, "cer": 0.5},
            {"step": 4, "loss": 1.75, "wer": 0.625, "cer": 0.25},
        ],
        "final_eval": {"step": 4, "loss": 1.75, "wer": 0.625, "cer": 0.25},
    }
    (out / "adapter").mkdir()
    (out / "adapter" / "metrics.json").write_text(json.dumps(metrics))
    return {"ot": ot, "calibration": calibration, "metrics": metrics, "segments": segments}


def _text(page: str) -> str:
    """The page's visible text, tags and data URIs stripped."""
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", page))


def _check_headings(page: str) -> None:
    positions = [page.find(f">{heading}") for heading in HEADINGS]
    assert all(p >= 0 for p in positions), dict(zip(HEADINGS, positions, strict=True))
    assert positions == sorted(positions)


def _check_images(page: str) -> int:
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    for encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
    return len(images)


def render(page_path: Path, name: str, tmp_path: Path) -> None:
    """Screenshot the page in headless Chromium; fail on any console message or load error."""
    if not CHROMIUM.exists():
        pytest.skip("headless rendering needs Debian's chromium package (/usr/bin/chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,4000",
        page_path.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    console = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "net::ERR" in line
    ]
    assert done.returncode == 0, done.stderr[-2000:]
    assert not console, console
    assert shot.exists() and shot.stat().st_size > 10_000


def test_report_of_a_real_run(finished_run, tmp_path, capsys):
    config, record = finished_run
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    assert run_report(parser.parse_args([config.output])) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == Path(config.output) / "report" / "index.html"
    page = path.read_text(encoding="utf-8")
    _check_headings(page)
    text = _text(page)
    curate, select = record["stages"]["curate"]["counts"], record["stages"]["select"]["counts"]
    for name, value in [
        ("inputs", curate["inputs"]),
        ("segments_kept", curate["segments_kept"]),
        ("selected", select["selected"]),
        ("rows", select["rows"]),
    ]:
        assert re.search(rf"\b{name}\s+{value}\b", text), (name, value)
    pool = curate["segments_kept"] - curate["target_segments"]
    assert re.search(rf"\bpool\s+{pool}\s+[\d.]+\s+[\d.]+\s+[\d.]+", text)
    chosen = rf"\bselected\s+{select['selected']}\s+{number(select['selected_seconds'])}\b"
    assert re.search(chosen, text)
    ot = ((select.get("diagnostics") or {}).get("ot")) or {}
    for distance in (ot.get("target_to_pool"), ot.get("target_to_selected")):
        assert distance is None or number(distance) in text
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert _check_images(page) >= 2
    render(path, "report.png", tmp_path)


def test_report_draws_every_section(tmp_path):
    out = tmp_path / "run"
    facts = write_filled_run(out)
    page = Path(write_report(str(out))).read_text(encoding="utf-8")
    _check_headings(page)
    assert 'class="absent"' not in page, re.findall(r'class="absent">([^<]+)', page)
    text = _text(page)
    fitted = facts["calibration"]
    for value in (
        facts["ot"]["target_to_pool"],
        facts["ot"]["target_to_selected"],
        facts["metrics"]["loss_end"],
        facts["metrics"]["final_eval"]["wer"],
        fitted["held_out"]["mae"],
    ):
        assert number(value) in text, value
    means = fitted["mean_expected_wer"]
    figures = [fitted["segments"], fitted["spearman"], fitted["mean_label_wer"],
               *fitted["expected_wer_range"], means["candidates"], means["selected"]]  # fmt: skip
    assert re.search(r"\s+".join(re.escape(number(v)) for v in figures), text)
    assert "Method: isotonic." in text
    assert re.search(r"curate\s+undecodable\s+3\b", text)
    pool = sum(1 for r in facts["segments"][:40] if '"telephone"' in r["metadata"])
    share = rf"\btelephone\s+{pool}\s+{number(pool / 40)}\s+\d+\s+[\d.]+\s+8\s+1\.000"
    assert re.search(share, text)
    assert page.count("<audio controls") == 40
    first = min(facts["segments"][:40], key=lambda r: r["key"])["key"]
    assert first in text
    assert _check_images(page) >= 10
    render(out / "report" / "index.html", "report-filled.png", tmp_path)


def test_report_of_an_empty_folder_says_what_is_missing(tmp_path):
    page = Path(write_report(str(tmp_path))).read_text(encoding="utf-8")
    _check_headings(page)
    assert page.count('class="absent"') >= len(HEADINGS)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_chromium_reports_a_broken_page(tmp_path):
    """The console check is live: a page with a script error fails it."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><script>undefinedFunction()</script>")
    with pytest.raises(AssertionError, match="Uncaught ReferenceError"):
        render(broken, "broken.png", tmp_path)
