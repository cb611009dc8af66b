"""The report's sections about selection: scores, the embedding map, the OT distance, the
composition and the samples at both ends of the ranking.

Like :mod:`sections`, each function returns its :class:`Section` whatever the run produced.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from voxsift.report import data, plots
from voxsift.report.html import Section, absent, heading, image, paragraph, player, table
from voxsift.report.sections import NO_SEGMENTS, NO_SELECTION
from voxsift.schema import training_text


def scores(run: data.RunData) -> Section:
    title = "Selection scores"
    if run.rows is None:
        return Section("scores", title, absent(NO_SEGMENTS))
    score = data.numbers(run.rows, "score")
    if not np.isfinite(score).any():
        ran = run.rows["method"].null_count < run.rows.num_rows
        return Section("scores", title, absent("No candidate was scored." if ran else NO_SELECTION))
    picked = data.flags(run.rows, "selected")
    methods = sorted({m for m in run.rows["method"].to_pylist() if m})
    reasons = Counter(r for r in run.rows["reason"].to_pylist() if r)
    body = [
        paragraph(
            f"Method: {', '.join(methods)}. Lower scores rank first; the budget takes "
            "candidates in rank order."
        ),
        table(["reason", "segments"], sorted(reasons.items())),
        image(
            plots.histogram(
                {
                    "selected": score[picked & np.isfinite(score)],
                    "not selected": score[~picked & np.isfinite(score)],
                },
                "score",
            ),
            "scores of selected and not selected",
        ),
    ]
    return Section("scores", title, "\n".join(body))


def embedding_map(run: data.RunData, per_role: int) -> Section:
    title = "Embedding map (PCA)"
    if run.rows is None:
        return Section("pca", title, absent(NO_SEGMENTS))
    groups = data.embedding_sample(run.out, run.rows, per_role)
    if not groups:
        message = "No embeddings: the embed step did not run (embedding is null)."
        return Section("pca", title, absent(message))
    points, ratio = data.pca_2d(groups)
    order = [name for name in ("pool", "selected", "target") if name in points]
    pairs = {name: (points[name][:, 0], points[name][:, 1]) for name in order}
    body = [
        paragraph(
            f"First two principal axes of all plotted embeddings; they explain "
            f"{ratio[0]:.1%} and {ratio[1]:.1%} of the variance. Up to {per_role} "
            "points per group (the smallest keys: a uniform sample)."
        ),
        image(plots.scatter(pairs, "PC 1", "PC 2"), "PCA map of pool, target and selected"),
    ]
    return Section("pca", title, "\n".join(body))


def ot_distance(run: data.RunData) -> Section:
    title = "OT distance to the target"
    ot = (run.diagnostics or {}).get("ot")
    if not ot:
        message = (
            "No OT diagnostics: select wrote none (no embeddings, or no target set)."
            if run.diagnostics is not None
            else "No selection diagnostics in this run."
        )
        return Section("ot", title, absent(message))
    sizes = ot.get("samples") or {}
    rows = [
        ["target → pool", ot.get("target_to_pool"), sizes.get("pool")],
        ["target → selection", ot.get("target_to_selected"), sizes.get("selected")],
    ]
    body = [
        paragraph(
            f"{ot.get('measure', 'OT')} with epsilon {ot.get('epsilon')}, "
            f"{sizes.get('target')} target embeddings. Lower is closer to the target."
        ),
        table(["from → to", "distance", "samples"], rows),
    ]
    values = [r[1] for r in rows if r[1] is not None]
    if len(values) == len(rows):
        body.append(
            image(
                plots.bars([r[0] for r in rows], {"distance": np.array(values)}, "distance"),
                "OT distances",
            )
        )
    return Section("ot", title, "\n".join(body))


def composition(run: data.RunData) -> Section:
    title = "Composition by ground-truth field"
    if run.rows is None:
        return Section("composition", title, absent(NO_SEGMENTS))
    metadata = data.metadata_fields(run.rows)
    masks = data.role_masks(run.rows)
    pool_meta = [m for m, is_pool in zip(metadata, masks["pool"], strict=True) if is_pool]
    fields = data.grouping_fields(pool_meta)
    if not fields:
        message = f"No manifest field has 2 to {data.MAX_GROUP_VALUES} values that repeat."
        return Section("composition", title, absent(message))
    body = []
    for field in fields:
        body += _composition_of(field, metadata, masks)
    return Section("composition", title, "\n".join(body))


def _composition_of(field: str, metadata: list[dict], masks: dict[str, np.ndarray]) -> list[str]:
    values = np.asarray(["(none)" if m.get(field) is None else str(m[field]) for m in metadata])
    categories = sorted(set(values[masks["pool"] | masks["target"]]), key=data.category_order)
    tallies = {name: Counter(values[mask]) for name, mask in masks.items()}
    totals = {name: max(1, int(mask.sum())) for name, mask in masks.items()}
    rows = [
        [c]
        + [
            x
            for name in ("pool", "selected", "target")
            for x in (tallies[name][c], tallies[name][c] / totals[name])
        ]
        for c in categories
    ]
    shares = {
        name: np.array([tallies[name][c] / totals[name] for c in categories])
        for name in ("pool", "selected", "target")
    }
    headers = [field, "pool", "pool share", "selected", "selected share", "target", "target share"]
    return [
        heading(field),
        table(headers, rows),
        image(plots.bars(categories, shares, "share"), f"composition by {field}"),
    ]


def extremes(run: data.RunData, count: int) -> Section:
    title = f"Highest and lowest scored samples ({count} each)"
    if run.rows is None:
        return Section("samples", title, absent(NO_SEGMENTS))
    score = data.numbers(run.rows, "score")
    scored = np.flatnonzero(np.isfinite(score))
    if not len(scored):
        return Section("samples", title, absent("No scored candidate to list."))
    order = scored[np.lexsort((np.asarray(run.rows["key"].to_pylist())[scored], score[scored]))]
    lowest, highest = order[:count], order[::-1][:count]
    keys = [run.rows["key"][int(i)].as_py() for i in np.concatenate([lowest, highest])]
    flac = data.audio_of(run.out, keys)
    body = []
    for caption, indices in (("Lowest scores (ranked first)", lowest), ("Highest scores", highest)):
        body += [heading(caption), _sample_table(run.rows, indices, flac)]
    return Section("samples", title, "\n".join(body))


def _sample_table(rows: pa.Table, indices: np.ndarray, flac: dict[str, bytes]) -> str:
    headers = ["rank", "key", "audio", "text", "score", "confidence", "seconds", "reason"]
    body = []
    for index in indices:
        row = {name: rows[name][int(index)].as_py() for name in rows.column_names}
        body.append(
            [
                row["rank"],
                row["key"],
                player(flac.get(row["key"])),
                training_text(row) or "",
                row["score"],
                row["confidence"],
                row["duration"],
                row["reason"],
            ]
        )
    return table(headers, body)
