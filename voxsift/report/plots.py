"""The report's figures: four generic kinds (histogram, scatter, bars, lines), drawn to PNG bytes.

Figures are built on matplotlib's object API with the Agg canvas, never ``pyplot``: no global
state, no display needed, safe inside a worker. The PNG carries no software or date metadata, so
the same numbers give the same bytes. Every function takes labelled groups of plain numbers; what
they mean is the caller's business.
"""

from __future__ import annotations

import io as bytes_io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Series = dict[str, np.ndarray]
Pairs = dict[str, tuple[np.ndarray, np.ndarray]]

COLORS = {
    "pool": "#9aa5b1",
    "not selected": "#9aa5b1",
    "target": "#e8833a",
    "selected": "#2f6fba",
    "before": "#9aa5b1",
    "after": "#2f6fba",
}
"""Fixed colours for the roles every section shares, so pool/target/selected read the same."""
_CYCLE = ("#2f6fba", "#e8833a", "#3a9e5f", "#b8483e", "#7d5ba6", "#8c6d3f", "#c45ca2", "#5f6b7a")
WIDTH, HEIGHT, DPI = 7.0, 3.6, 100
LABEL_CHARS = 24
"""Longer category names are cut on the axis (tables keep them whole)."""


def _color(label: str, position: int) -> str:
    return COLORS.get(label, _CYCLE[position % len(_CYCLE)])


def _figure(panels: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(WIDTH * (1 if panels == 1 else 1.4), HEIGHT), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, panels, i + 1) for i in range(panels)]
    return figure, axes


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, without the metadata that would change them run to run."""
    buffer = bytes_io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def histogram(groups: Series, xlabel: str, bins: int = 30) -> bytes:
    """Overlaid histograms on shared bins, one per labelled group (NaNs dropped)."""
    figure, (axes,) = _figure()
    groups = {label: _finite(v) for label, v in groups.items()}
    every = np.concatenate([v for v in groups.values() if len(v)] or [np.zeros(1)])
    low, high = float(every.min()), float(every.max())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    for position, (label, values) in enumerate(groups.items()):
        if len(values):
            axes.hist(
                values,
                bins=edges,
                alpha=0.6,
                color=_color(label, position),
                label=f"{label} (n={len(values)})",
            )
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    axes.legend(loc="best", fontsize="small")
    return png(figure)


def scatter(
    groups: Pairs, xlabel: str, ylabel: str, diagonal: bool = False, curves: Pairs | None = None
) -> bytes:
    """Points per labelled group, drawn in order (later groups on top); optional y = x line and
    labelled curves drawn as lines over the points (a fitted function, say)."""
    figure, (axes,) = _figure()
    for position, (label, (x, y)) in enumerate(groups.items()):
        axes.scatter(
            x,
            y,
            s=12,
            alpha=0.7,
            color=_color(label, position),
            label=f"{label} (n={len(x)})",
            linewidths=0,
        )
    if diagonal:
        every = np.concatenate([np.concatenate([x, y]) for x, y in groups.values()])
        every = _finite(every)
        if len(every):
            low, high = float(every.min()), float(every.max())
            axes.plot([low, high], [low, high], color="#444444", linewidth=0.8, label="y = x")
    for position, (label, (x, y)) in enumerate((curves or {}).items(), start=len(groups)):
        axes.plot(x, y, color=_color(label, position), linewidth=1.6, label=label)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(loc="best", fontsize="small")
    return png(figure)


def bars(categories: list[str], series: Series, ylabel: str) -> bytes:
    """Grouped bars: one bar per series within each category."""
    figure, (axes,) = _figure()
    count = max(1, len(series))
    width = 0.8 / count
    positions = np.arange(len(categories))
    for index, (label, values) in enumerate(series.items()):
        offset = (index - (count - 1) / 2) * width
        axes.bar(positions + offset, values, width=width, color=_color(label, index), label=label)
    names = [c if len(c) <= LABEL_CHARS else c[: LABEL_CHARS - 1] + "…" for c in categories]
    axes.set_xticks(positions)
    axes.set_xticklabels(
        names,
        rotation=30 if len(categories) > 4 else 0,
        ha="right" if len(categories) > 4 else "center",
        fontsize="small",
    )
    axes.set_ylabel(ylabel)
    if len(series) > 1:
        axes.legend(loc="best", fontsize="small")
    return png(figure)


def lines(panels: dict[str, Pairs], xlabel: str) -> bytes:
    """Side-by-side panels of line series, titled by the panel's name (its y quantity)."""
    figure, axes_list = _figure(len(panels))
    for axes, (title, series) in zip(axes_list, panels.items(), strict=True):
        for position, (label, (x, y)) in enumerate(series.items()):
            marker = "o" if len(x) < 30 else None
            axes.plot(x, y, marker=marker, markersize=3, color=_color(label, position), label=label)
        axes.set_title(title, fontsize="medium")
        axes.set_xlabel(xlabel)
        axes.legend(loc="best", fontsize="small")
    return png(figure)
