"""The readable end-of-run summary: one line per stage, reasons spelled out, where outputs went."""

from __future__ import annotations

from typing import Any

from voxsift import io


def _reasons(by_reason: dict[str, int]) -> str:
    return ", ".join(
        f"{reason} {n}" for reason, n in sorted(by_reason.items(), key=lambda x: -x[1])
    )


def describe_stage(name: str, counts: dict[str, Any]) -> str:
    if name == "curate":
        rejected = counts["inputs_rejected"] + counts["segments_rejected"]
        why = f" ({_reasons(counts['rejected_by_reason'])})" if rejected else ""
        return (
            f"{counts['inputs']} inputs: {counts['inputs_kept']} kept, "
            f"{counts['inputs_rejected']} rejected{why} → {counts['segments_kept']} segments, "
            f"{counts['seconds_kept']:.1f} s of audio ({counts['target_segments']} target)"
        )
    if name == "select":
        return (
            f"{counts['rows']} segments: {counts['selected']} selected "
            f"({counts['selected_seconds']:.1f} s); {_reasons(counts['by_reason'])}"
        )
    return (
        f"{counts['samples_written']} samples in {counts['shards']} shards "
        f"(train {counts['train_samples']}, valid {counts['valid_samples']}), "
        f"{counts['seconds']:.1f} s"
    )


def render(record: dict[str, Any]) -> str:
    """The summary table printed at the end of ``voxsift run``."""
    out = record["config"]["output"]
    lines = [f"voxsift run → {out}  (config {record['config_hash'][:12]})", ""]
    lines.append(f"{'stage':<8} {'time':>8}  result")
    for name, stage in record["stages"].items():
        took = "skipped" if stage["skipped"] else f"{stage['seconds']:.1f}s"
        lines.append(f"{name:<8} {took:>8}  {describe_stage(name, stage['counts'])}")
    shards = io.join(out, "shards")
    lines += [
        "",
        f"shards:    {shards}  (check them: voxsift verify {shards})",
        f"segments:  {io.join(out, 'segments')}   selection: {io.join(out, 'selection')}",
        f"rejects:   {io.join(out, 'rejects')}    run record: {io.join(out, 'run.json')}",
    ]
    return "\n".join(lines)
