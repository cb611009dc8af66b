"""What the teacher did in a curate run, for run.json and the summary: its labels and its WER.

Read from the written segments: how many segments the teacher labeled, their mean confidence,
and on the transcribed ones it relabeled (``label.relabel_transcribed``) the WER of its labels
against the references and the rank correlation of confidence with that WER; plus the labels it
was surest and least sure of, as examples of what it wrote.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxsift import io
from voxsift.evaltext import spearman

COLUMNS = ["teacher", "pseudo_text", "confidence", "label_wer"]
EXAMPLE_CHARS = 80


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _example(row: dict[str, Any]) -> dict[str, Any]:
    text = " ".join((row["pseudo_text"] or "").split())
    short = text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
    return {"text": short, "confidence": round(float(row["confidence"]), 4)}


def teacher_figures(output: str) -> dict[str, Any] | None:
    """The teacher's figures from ``output``'s segments, or None when no segment was labeled."""
    table = io.read_parquet(io.join(output, "segments", "*.parquet"), COLUMNS)
    rows = [r for r in table.to_pylist() if r["teacher"] is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: (r["confidence"], r["pseudo_text"] or ""))
    confidence = np.array([r["confidence"] for r in rows], dtype=np.float64)
    scored = [r for r in rows if r["label_wer"] is not None]
    wer = np.array([r["label_wer"] for r in scored], dtype=np.float64)
    figures: dict[str, Any] = {
        "teacher": ", ".join(sorted({r["teacher"] for r in rows})),
        "labeled": len(rows),
        "mean_confidence": round(float(confidence.mean()), 4),
        "transcribed": len(scored),
        "examples": [_example(rows[-1]), _example(rows[0])],
    }
    if scored:
        figures.update(
            median_label_wer=round(float(np.median(wer)), 4),
            mean_label_wer=round(float(wer.mean()), 4),
            confidence_wer_spearman=_rounded(spearman([r["confidence"] for r in scored], wer)),
        )
    return figures
