"""Scoring for the closed-loop benchmark: test-set CER of a trained model, seeds → mean ± sd.

Test clips get the curate stage's audio treatment (16 kHz mono, EBU R128 loudness), so a model
is scored on audio prepared the way its training audio was. Error rates go through
``voxsift.evaltext`` like every WER/CER in the project.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxsift import io
from voxsift.trainers.evaluate import load_model, pick_device, read_audio, score, transcribe

BATCH = 16


@dataclass(frozen=True)
class TestSet:
    """Clips (16 kHz, loudness-normalized) and their reference texts, longest first."""

    name: str
    audio: list[np.ndarray]
    texts: list[str]


def load_test_set(name: str, lines: Sequence[dict[str, Any]]) -> TestSet:
    """Decode and normalize each manifest line's audio as ``voxsift evaluate`` does (curate's
    loudness); ``ref_text`` is the reference."""
    clips = [(read_audio(line["audio"]), line["ref_text"]) for line in lines]
    clips.sort(key=lambda clip: -len(clip[0]))  # similar lengths batch together: less padding
    return TestSet(name, [a for a, _ in clips], [t for _, t in clips])


def error_rates(folder: Path, test_sets: Sequence[TestSet]) -> dict[str, dict[str, float]]:
    """{test set: {"wer", "cer"}} of the model trained into ``folder`` (adapter or full)."""
    model, network, _ = load_model(adapter=str(folder))
    return _scores(model, network, test_sets)


def model_error_rates(spec: str, test_sets: Sequence[TestSet]) -> dict[str, dict[str, float]]:
    """{test set: {"wer", "cer"}} of a base model by its spec (a checkpoint folder, a hub name);
    a character vocabulary, where one is needed, comes from the test sets' texts."""
    texts = [text for test in test_sets for text in test.texts]
    model, network, _ = load_model(spec, texts=texts)
    return _scores(model, network, test_sets)


def _scores(model: Any, network: Any, test_sets: Sequence[TestSet]) -> dict[str, dict[str, float]]:
    """Decoded and scored by ``voxsift evaluate``'s own functions (greedy, evaltext)."""
    device = pick_device("auto")
    scores = {}
    for test in test_sets:
        rates = score(test.texts, transcribe(model, network, test.audio, BATCH, device))
        scores[test.name] = {"wer": rates["wer"], "cer": rates["cer"]}
    return scores


def spread(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None with a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else None


def _cell(values: Sequence[float | None], digits: int = 3) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    mean, sd = spread(present)
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method, in first-seen order: every metric's list over seeds."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["method"], []).append(row)
    metrics = ("target_cer", "source_cer", "target_wer", "ot_to_selected", "target_share")
    return [
        {"method": name, "seeds": len(runs), **{m: [r.get(m) for r in runs] for m in metrics}}
        for name, runs in grouped.items()
    ]


def table(summary: Sequence[dict[str, Any]], base: dict[str, float]) -> str:
    """The markdown table: mean ± sd over seeds; the base model's row first."""
    lines = [
        "| method | target CER | source CER | target WER | OT target→selected "
        "| target share of selection | seeds |",
        "|---|---|---|---|---|---|---|",
        f"| base (no fine-tuning) | {base['target_cer']:.3f} | {base['source_cer']:.3f} "
        f"| {base['target_wer']:.3f} | – | – | – |",
    ]
    for entry in summary:
        lines.append(
            f"| {entry['method']} | {_cell(entry['target_cer'])} | {_cell(entry['source_cer'])} "
            f"| {_cell(entry['target_wer'])} | {_cell(entry['ot_to_selected'], 4)} "
            f"| {_cell(entry['target_share'], 2)} | {entry['seeds']} |"
        )
    return "\n".join(lines)


def teacher_table(run: Path) -> str:
    """Per pool domain: segments, the teacher's confidence and label WER (mean ± sd).

    The label WER (pseudo-label against the reference) exists for the transcribed half only;
    it says how good the pseudo-labels of the other half are likely to be.
    """
    columns = ["role", "metadata", "confidence", "label_wer"]
    rows = io.read_parquet(str(run / "segments" / "*.parquet"), columns).to_pylist()
    domains: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["role"] == "pool":
            domains.setdefault(json.loads(row["metadata"])["condition"], []).append(row)
    lines = [
        "| pool domain | segments | teacher confidence | label WER (transcribed) |",
        "|---|---|---|---|",
    ]
    for name, members in sorted(domains.items()):
        confidence = [r["confidence"] for r in members if r["confidence"] is not None]
        wer = [r["label_wer"] for r in members if r["label_wer"] is not None]
        lines.append(f"| {name} | {len(members)} | {_cell(confidence)} | {_cell(wer)} |")
    return "\n".join(lines)
