"""The readable end-of-run summary: one line per stage, reasons spelled out, where outputs went."""

from __future__ import annotations

from typing import Any

from voxsift import io


def _reasons(by_reason: dict[str, int]) -> str:
    return ", ".join(
        f"{reason} {n}" for reason, n in sorted(by_reason.items(), key=lambda x: -x[1])
    )


def _selection_diagnostics(report: dict[str, Any] | None) -> str:
    """Indented lines under the select row: OT distances to the target, the selected mix."""
    lines = []
    distances = (report or {}).get("ot") or {}
    if distances.get("target_to_selected") is not None:
        pool, chosen = distances["target_to_pool"], distances["target_to_selected"]
        lines.append(
            f"{report['method']}: OT to the target (Sinkhorn divergence) "
            f"pool {pool:.4f} → selected {chosen:.4f}"
        )
    mix = (report or {}).get("composition")
    if mix:
        picked = sorted(mix["selected"].items(), key=lambda item: (-item[1], item[0]))
        shares = ", ".join(f"{k} {n} of {mix['candidates'][k]}" for k, n in picked)
        lines.append(f"selected by {mix['field']}: {shares or 'none'}")
    if (report or {}).get("calibration"):
        lines.append(_calibration(report["calibration"]))
    return "".join(f"\n{'':19}{line}" for line in lines)


def _calibration(fitted: dict[str, Any]) -> str:
    """One line: how the confidence was calibrated, and the selection's mean expected WER."""
    low, high = fitted["expected_wer_range"]
    line = f"calibration: {fitted['method']} on {fitted['segments']} segments"
    line += (
        f" ({fitted['reason']})" if fitted.get("reason") else f", expected WER {low:.2f}–{high:.2f}"
    )
    means = fitted.get("mean_expected_wer") or {}
    if means.get("selected") is not None:
        line += f"; selected mean {means['selected']:.3f} (candidates {means['candidates']:.3f})"
    return line


def _curate_steps(steps: dict[str, dict[str, Any]]) -> str:
    """Indented lines under the curate row: each step's records, failures and compute time."""
    lines = []
    for step, f in steps.items():
        rtf = f" (RTF {f['real_time_factor']:.3f})" if f["real_time_factor"] is not None else ""
        lines.append(
            f"{step}: {f['records']} processed, {f['skipped']} passed through, "
            f"{f['failures']} failed; {f['seconds']:.1f} s compute{rtf}"
        )
    return "".join(f"\n{'':19}{line}" for line in lines)


def _teacher(figures: dict[str, Any] | None) -> str:
    """Indented lines under the curate row: what the teacher labeled, how sure, how right."""
    if not figures:
        return ""
    line = (
        f"teacher {figures['teacher']}: {figures['labeled']} labeled, "
        f"mean confidence {figures['mean_confidence']:.2f}"
    )
    if figures.get("median_label_wer") is not None:
        rho = figures.get("confidence_wer_spearman")
        line += (
            f"; on {figures['transcribed']} transcribed: label WER median "
            f"{figures['median_label_wer']:.3f}, mean {figures['mean_label_wer']:.3f}"
            + (f", Spearman ρ(confidence, WER) {rho:.2f}" if rho is not None else "")
        )
    lines = [line]
    for label, example in zip(("surest", "least sure"), figures["examples"], strict=True):
        lines.append(f"{label} ({example['confidence']:.2f}): {example['text']!r}")
    return "".join(f"\n{'':19}{text}" for text in lines)


def describe_stage(name: str, counts: dict[str, Any]) -> str:
    if name == "curate":
        rejected = counts["inputs_rejected"] + counts["segments_rejected"]
        why = f" ({_reasons(counts['rejected_by_reason'])})" if rejected else ""
        head = (
            f"{counts['inputs']} inputs: {counts['inputs_kept']} kept, "
            f"{counts['inputs_rejected']} rejected{why} → {counts['segments_kept']} segments, "
            f"{counts['seconds_kept']:.1f} s of audio ({counts['target_segments']} target)"
        )
        return head + _curate_steps(counts.get("steps") or {}) + _teacher(counts.get("teacher"))
    if name == "select":
        return (
            f"{counts['rows']} segments: {counts['selected']} selected "
            f"({counts['selected_seconds']:.1f} s); {_reasons(counts['by_reason'])}"
        ) + _selection_diagnostics(counts.get("diagnostics"))
    return (
        f"{counts['samples_written']} samples in {counts['shards']} shards "
        f"(train {counts['train_samples']}, valid {counts['valid_samples']}), "
        f"{counts['seconds']:.1f} s"
    )


def describe_training(train: dict[str, Any]) -> str:
    text = (
        f"{train['adapter']} on {train['model']}: {train['steps']} steps, "
        f"{train['trainable_parameters']:,} trainable parameters, loss "
        f"{train['loss_start']:.3f} → {train['loss_end']:.3f}"
    )
    final = train.get("final_eval") or {}
    if final.get("wer") is not None:
        text += f"; valid WER {final['wer']:.3f}, CER {final['cer']:.3f}"
    return text + f" → {train['out']}"


def render(record: dict[str, Any]) -> str:
    """The summary table printed at the end of ``voxsift run``."""
    out = record["config"]["output"]
    lines = [f"voxsift run → {out}  (config {record['config_hash'][:12]})", ""]
    lines.append(f"{'stage':<8} {'time':>8}  result")
    for name, stage in record["stages"].items():
        took = "skipped" if stage["skipped"] else f"{stage['seconds']:.1f}s"
        lines.append(f"{name:<8} {took:>8}  {describe_stage(name, stage['counts'])}")
    if "train" in record:
        train = record["train"]
        took = "skipped" if train.get("skipped") else f"{train['session_seconds']:.1f}s"
        lines.append(f"{'train':<8} {took:>8}  {describe_training(train)}")
    shards = io.join(out, "shards")
    lines += [
        "",
        f"shards:    {shards}  (check them: voxsift verify {shards})",
        f"segments:  {io.join(out, 'segments')}   selection: {io.join(out, 'selection')}",
        f"rejects:   {io.join(out, 'rejects')}    run record: {io.join(out, 'run.json')}",
    ]
    return "\n".join(lines)
