"""Peak memory of the curate and shard stages at 1x and 10x corpus size.

Each stage runs in a fresh child process (``voxsift curate`` / ``voxsift select`` / ``voxsift
shard``) and reports its own peak RSS, so the figures are per stage and include the interpreter,
torch and Beam. Every curate step but pseudo-labeling runs (pocketsphinx would make the 10x run
take most of an hour on 2 cores without changing what is measured). The goal is a 10x/1x ratio
under 1.5 for both stages: memory must not grow with the corpus.

A second table puts one long recording beside a short one: a 3-minute and a 3-hour stereo 48 kHz
FLAC file (``--long-hours``), curated with the model steps off, since what is measured is that a
file longer than ``segment.stream_window_seconds`` is decoded, resampled and segmented block by
block; the segments it yields then go through the steps one by one like any others.

    .venv/bin/python bench/memory_scaling.py [--base 60] [--long-hours 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from curate_throughput import SAME_WORK

from voxsift.synth import synthesize, write_long_recording

_PEAK_RSS = """
import resource, sys
from voxsift.cli import main
code = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def stage_peak_mb(stage: str, config: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, stage, str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split("MAXRSS_KB")[-1]) / 1024


def measure(root: Path, utterances: int) -> dict[str, float]:
    corpus = root / f"corpus{utterances}"
    synthesize(str(corpus), utterances=utterances, seed=5, target_utterances=2)
    config = root / f"run{utterances}.yaml"
    config.write_text(
        f"input: [{corpus / 'pool.jsonl'}]\noutput: {root / f'out{utterances}'}\n"
        "select: {method: random}\nlabel: {teacher: none}\n"
        "shard: {max_samples: 200, max_bytes: 16MB}\n"
    )
    peaks = {"curate": stage_peak_mb("curate", config)}
    stage_peak_mb("select", config)
    peaks["shard"] = stage_peak_mb("shard", config)
    return peaks


def recording_peak_mb(root: Path, minutes: float) -> tuple[float, float]:
    """Peak MB of ``voxsift curate`` on one recording of ``minutes``, and the audio it kept."""
    name = f"recording{minutes:g}"
    audio = root / f"{name}.flac"
    write_long_recording(audio, minutes)
    manifest = root / f"{name}.jsonl"
    manifest.write_text(json.dumps({"audio": str(audio)}) + "\n")
    config = root / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump({"input": [str(manifest)], "output": str(root / name), **SAME_WORK})
    )
    peak = stage_peak_mb("curate", config)
    kept = pq.read_table(root / name / "segments", columns=["duration"])["duration"]
    audio.unlink()
    return peak, sum(kept.to_pylist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=60, help="utterances at 1x")
    parser.add_argument(
        "--long-hours", type=float, default=3.0, help="length of the long recording; 0 skips it"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        small = measure(Path(scratch), args.base)
        large = measure(Path(scratch), args.base * 10)
        recordings = {}
        if args.long_hours > 0:
            for minutes in (3.0, args.long_hours * 60):
                recordings[minutes] = recording_peak_mb(Path(scratch), minutes)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 1x = {args.base} utterances")
    print("| stage | peak MB at 1x | peak MB at 10x | ratio 10x/1x |")
    print("|---|---:|---:|---:|")
    for stage in ("curate", "shard"):
        print(f"| {stage} | {small[stage]:.0f} | {large[stage]:.0f} | "
              f"{large[stage] / small[stage]:.2f} |")  # fmt: skip
    if recordings:
        (short, (short_mb, _)), (long, (long_mb, long_kept)) = recordings.items()
        print("| one recording (48 kHz stereo FLAC) | peak MB | ratio to 3 minutes |")
        print("|---|---:|---:|")
        print(f"| {short:g} minutes | {short_mb:.0f} | 1.00 |")
        print(f"| {long / 60:g} hours ({long_kept / 3600:.2f} h of segments kept) | "
              f"{long_mb:.0f} | {long_mb / short_mb:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
