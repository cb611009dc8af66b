"""The run report: ``OUT/report/index.html``, one self-contained page about every stage of a run.

``write_report(out)`` reads what the run wrote (run.json, the Parquet outputs, the selection
diagnostics, the trainer's metrics.json) and writes the page atomically through FileSystems, so it
works the same on a local folder and on ``gs://``. ``voxsift report OUT`` rebuilds it at any time.
The page's modules are imported when a page is built, so ``voxsift report --help`` stays light.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voxsift.report import data
    from voxsift.report.html import Section

EXTREMES = 20
"""Samples listed at each end of the score range."""
PCA_POINTS = 2000
"""Embeddings per group (pool, target, selected) on the PCA map."""


def build_sections(
    run: data.RunData, extremes: int = EXTREMES, pca_points: int = PCA_POINTS
) -> list[Section]:
    from voxsift.report import languages, sections, selection

    return [
        sections.counts(run),
        sections.durations(run),
        languages.languages(run),
        sections.snr(run),
        sections.confidence(run),
        sections.calibration(run),
        selection.scores(run),
        selection.embedding_map(run, pca_points),
        selection.ot_distance(run),
        selection.composition(run),
        sections.training(run),
        selection.extremes(run, extremes),
    ]


def write_report(out: str, extremes: int = EXTREMES, pca_points: int = PCA_POINTS) -> str:
    """Build ``OUT/report/index.html`` from the run folder ``out``; returns the page's path."""
    from voxsift import io
    from voxsift.report import data
    from voxsift.report.html import page

    run = data.gather(out)
    config_hash = (run.run or {}).get("config_hash") or "unknown"
    meta = f"run folder {out} · config {config_hash[:12]}"
    document = page(out, meta, build_sections(run, extremes, pca_points))
    path = io.join(out, "report", "index.html")
    io.make_dirs(io.join(out, "report"))
    io.write_bytes_atomic(path, document.encode("utf-8"))
    return path


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``voxsift report``."""
    parser.add_argument("out", help="run folder (local or a URI such as gs://bucket/run)")
    parser.add_argument(
        "--samples",
        type=int,
        default=EXTREMES,
        help=f"samples listed with a player at each end of the score range (default {EXTREMES})",
    )
    parser.add_argument(
        "--pca-points",
        type=int,
        default=PCA_POINTS,
        help=f"embeddings per group drawn on the PCA map (default {PCA_POINTS})",
    )


def run_report(args: argparse.Namespace) -> int:
    """Entry of ``voxsift report``: writes the page and prints its path."""
    if args.samples < 0 or args.pca_points < 1:
        raise ValueError("--samples must be 0 or more and --pca-points 1 or more")
    print(write_report(args.out, args.samples, args.pca_points))
    return 0
