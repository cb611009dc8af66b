"""The report's sections about the run and its audio: counts, durations, SNR, confidence, the
calibration of the confidence, training.

One function per section: numbers from :mod:`data`, figures from :mod:`plots`.

Each function returns a :class:`Section` whatever the run produced: a part whose columns a step
did not fill says so in one line, so a backbone-only run and a full run get the same headings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxsift.evaltext import spearman
from voxsift.report import data, plots
from voxsift.report.html import Section, absent, heading, image, paragraph, table

NO_SEGMENTS = "No segments/*.parquet in this run folder: curate did not finish."
NO_SELECTION = "No selection/*.parquet in this run folder: select did not run."


def counts(run: data.RunData) -> Section:
    """Per-stage counts from run.json, then reject rows by stage and reason."""
    parts = []
    stages = data.stage_counts(run.run)
    if not stages:
        parts.append(absent("No run.json in this run folder: the chain did not finish."))
    for name, values in stages.items():
        seconds = (run.run or {})["stages"][name].get("seconds")
        rows = [[key, value] for key, value in _flatten(values)]
        parts.append(table(["count", "value"], rows, caption=f"{name} ({seconds} s)"))
    parts.append(heading("Reject reasons"))
    if not run.rejects:
        parts.append(paragraph("No input or segment was rejected."))
    else:
        ordered = sorted(run.rejects.items(), key=lambda item: (-item[1], item[0]))
        parts.append(table(["stage", "reason", "rows"], [[s, r, n] for (s, r), n in ordered]))
        labels = [f"{s}: {r}" for (s, r), _ in ordered]
        parts.append(
            image(
                plots.bars(labels, {"rejects": np.array([n for _, n in ordered])}, "rows"),
                "reject reasons",
            )
        )
    return Section("counts", "Counts per stage and reject reasons", "\n".join(parts))


def _flatten(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """One level of nesting spelled out (``by_reason: selected``); diagnostics have a section."""
    flat = []
    for key, value in values.items():
        if key == "diagnostics":
            continue
        if isinstance(value, dict):
            flat += [(f"{key}: {inner}", v) for inner, v in value.items()] or [(key, "none")]
        else:
            flat.append((key, value))
    return flat


def durations(run: data.RunData) -> Section:
    if run.rows is None:
        return Section("durations", "Duration", absent(NO_SEGMENTS))
    seconds = data.numbers(run.rows, "duration")
    masks = data.role_masks(run.rows)
    summary = [
        [
            name,
            int(mask.sum()),
            float(seconds[mask].sum()),
            float(seconds[mask].sum() / 3600),
            data.mean_of(seconds[mask]),
        ]
        for name, mask in masks.items()
    ]
    body = [
        table(["group", "segments", "seconds", "hours", "mean seconds"], summary),
        image(plots.histogram({n: seconds[m] for n, m in masks.items()}, "seconds"), "durations"),
    ]
    return Section("durations", "Duration", "\n".join(body))


def snr(run: data.RunData) -> Section:
    title = "SNR before and after enhancement"
    if run.rows is None:
        return Section("snr", title, absent(NO_SEGMENTS))
    before, after = data.numbers(run.rows, "snr_before_db"), data.numbers(run.rows, "snr_after_db")
    measured = np.isfinite(before) & np.isfinite(after)
    if not measured.any():
        message = "Not measured: the enhance step did not run (snr_before_db is null)."
        return Section("snr", title, absent(message))
    methods = np.asarray([m or "(none)" for m in run.rows["enhancement"].to_pylist()])
    rows, pairs = [], {}
    for method in sorted(set(methods[measured])):
        mask = measured & (methods == method)
        rows.append(
            [
                method,
                int(mask.sum()),
                data.mean_of(before[mask]),
                data.mean_of(after[mask]),
                data.mean_of(after[mask] - before[mask]),
            ]
        )
        pairs[method] = (before[mask], after[mask])
    body = [
        table(["enhancement", "segments", "mean before dB", "mean after dB", "mean gain dB"], rows),
        image(
            plots.histogram(
                {"before": before[measured], "after": after[measured]}, "estimated SNR (dB)"
            ),
            "SNR histogram",
        ),
        image(
            plots.scatter(pairs, "SNR before (dB)", "SNR after (dB)", diagonal=True),
            "SNR before against after",
        ),
    ]
    return Section("snr", title, "\n".join(body))


def confidence(run: data.RunData) -> Section:
    title = "Teacher confidence"
    if run.rows is None:
        return Section("confidence", title, absent(NO_SEGMENTS))
    values = data.numbers(run.rows, "confidence")
    if not np.isfinite(values).any():
        message = "No confidences: the pseudo-label step did not run (confidence is null)."
        return Section("confidence", title, absent(message))
    masks = data.role_masks(run.rows)
    body = [
        image(
            plots.histogram(
                {n: values[m] for n, m in masks.items() if n != "selected"}, "confidence"
            ),
            "confidence histogram",
        )
    ]
    body.append(heading("Confidence against WER of the pseudo-label to the reference"))
    wer = data.numbers(run.rows, "label_wer")
    both = np.isfinite(values) & np.isfinite(wer)
    if not both.any():
        body.append(absent("No segment has both a reference transcript and a confidence."))
    else:
        rho = spearman(values[both], wer[both])
        body.append(
            table(
                ["segments with a reference", "mean WER", "Spearman ρ(conf, WER)"],
                [[int(both.sum()), data.mean_of(wer[both]), rho]],
            )
        )
        body.append(
            image(
                plots.scatter({"segments": (values[both], wer[both])}, "confidence", "label WER"),
                "confidence against WER",
            )
        )
    return Section("confidence", title, "\n".join(body))


def calibration(run: data.RunData) -> Section:
    """The select stage's map from teacher confidence to expected label WER, over the pairs."""
    title = "Label calibration"
    fitted = (run.diagnostics or {}).get("calibration")
    if not fitted:
        message = (
            "No calibration in the selection diagnostics (select ran before calibration existed)."
            if run.diagnostics is not None
            else "No selection diagnostics in this run."
        )
        return Section("calibration", title, absent(message))
    method = fitted.get("method")
    about = f"Method: {method}" + (f" ({fitted['reason']})" if fitted.get("reason") else "")
    body = [
        paragraph(
            f"{about}. Expected WER of a pseudo-label from its teacher confidence, fitted on "
            "the segments with a label WER (transcribed and relabeled); a reference transcript "
            "counts as error-free (expected WER 0)."
        ),
        table(*_calibration_figures(fitted)),
    ]
    held = fitted.get("held_out")
    if held:
        body.append(
            table(
                ["held-out segments", "MAE of the fit", "MAE of the mean"],
                [[held.get("segments"), held.get("mae"), held.get("mae_of_mean")]],
            )
        )
    body.append(image(_calibration_plot(run, fitted), "label WER against confidence"))
    return Section("calibration", title, "\n".join(body))


def _calibration_figures(fitted: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    means = fitted.get("mean_expected_wer") or {}
    low, high = fitted.get("expected_wer_range") or (None, None)
    figures = {
        "segments": fitted.get("segments"),
        "Spearman ρ(conf, WER)": fitted.get("spearman"),
        "mean label WER": fitted.get("mean_label_wer"),
        "expected WER from": low,
        "to": high,
        "candidates' mean": means.get("candidates"),
        "selected mean": means.get("selected"),
    }
    return list(figures), [list(figures.values())]


def _calibration_plot(run: data.RunData, fitted: dict[str, Any]) -> bytes:
    """Label WER against confidence per segment, with the fitted curve over [0, 1]."""
    points: plots.Pairs = {}
    if run.rows is not None:
        values, wer = data.numbers(run.rows, "confidence"), data.numbers(run.rows, "label_wer")
        both = np.isfinite(values) & np.isfinite(wer)
        points["segments"] = (values[both], np.clip(wer[both], 0.0, 1.0))
    curve = fitted.get("curve") or {}
    x = np.asarray(curve.get("confidence") or [], dtype=np.float64)
    y = np.asarray(curve.get("expected_wer") or [], dtype=np.float64)
    curves = {}
    if len(x) and len(x) == len(y):
        # the fit is constant beyond its end points: drawn out to 0 and 1
        ends = (np.concatenate([[0.0], x, [1.0]]), np.concatenate([y[:1], y, y[-1:]]))
        curves[f"fitted ({fitted.get('method')})"] = ends
    return plots.scatter(points, "confidence", "label WER (clipped to 1)", curves=curves)


def training(run: data.RunData) -> Section:
    title = "Training curves"
    metrics = run.training
    if metrics is None:
        return Section("training", title, absent("No train step ran (no metrics.json)."))
    curve = np.asarray(metrics.get("loss_curve") or [], dtype=np.float64).reshape(-1, 2)
    evals = [e for e in metrics.get("eval") or [] if e]
    final = metrics.get("final_eval") or {}
    rows = [[k, metrics.get(k)] for k in ("model", "adapter", "steps", "loss_start", "loss_end")]
    rows += [[f"final {k}", final.get(k)] for k in ("wer", "cer", "loss") if k in final]
    body = [table(["metric", "value"], rows)]
    panels: dict[str, plots.Pairs] = {}
    if len(curve):
        panels["loss"] = {"train": (curve[:, 0], curve[:, 1])}
    if evals:
        steps = np.array([e["step"] for e in evals], dtype=np.float64)
        panels.setdefault("loss", {})["valid"] = (steps, _series(evals, "loss"))
        panels["error rate"] = {k: (steps, _series(evals, k)) for k in ("wer", "cer")}
    if panels:
        body.append(image(plots.lines(panels, "step"), "training curves"))
    else:
        body.append(absent("metrics.json holds no loss curve or evaluation."))
    return Section("training", title, "\n".join(body))


def _series(evals: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.asarray([e.get(key) for e in evals], dtype=np.float64)
