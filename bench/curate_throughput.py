"""Curate throughput: the Beam curate stage against a plain Python loop doing the same work.

Both sides decode, resample, run silero-vad, loudness-normalize, FLAC-encode and write Parquet for
the same synthesized corpus, in the same run. Figures are seconds of audio curated per wall-clock
second, and each Beam figure as a ratio of the plain loop's.

    .venv/bin/python bench/curate_throughput.py [--utterances 160]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from voxsift.config import parse_config
from voxsift.pipelines import curate
from voxsift.pipelines.run import run_one
from voxsift.progress import ProgressSink
from voxsift.schema import SEGMENT_SCHEMA, Segment
from voxsift.synth import synthesize
from voxsift.transforms.ingest import parse_manifest_line

SAME_WORK = {
    "select": {"method": "random"},
    "enhance": {"method": "none"},
    "label": {"teacher": "none"},
    "normalize": {"enabled": False},
    "quality": {"enabled": False},
    "embed": {"kinds": []},
}
"""Curate with the model steps off, so both sides do exactly decode, VAD, loudness and FLAC."""


def plain_loop(manifest: Path, out: Path, config) -> float:
    """The same per-file work as the curate stage, without Beam; returns wall seconds."""
    started = time.perf_counter()
    segmenter = curate.SegmentFiles(config.ingest, config.segment, config.loudness, ProgressSink())
    segmenter.setup()
    rows = []
    for number, raw in enumerate(manifest.read_bytes().splitlines()):
        item = parse_manifest_line(
            raw, "pool", f"{manifest}:{number}", str(manifest), config.ingest
        )
        made = segmenter.process(item)
        rows += [curate.encode_segment(s) for s in made if isinstance(s, Segment)]
    pq.write_table(pa.Table.from_pylist(rows, schema=SEGMENT_SCHEMA), out / "plain.parquet")
    return time.perf_counter() - started


def beam_stage(manifest: Path, out: Path, beam_args: list[str]) -> tuple[float, float]:
    """Wall seconds of the Beam curate stage and the seconds of audio it kept."""
    config = parse_config({"input": [str(manifest)], "output": str(out), **SAME_WORK})
    started = time.perf_counter()
    result = run_one("curate", config, beam_args, resume=False)
    return time.perf_counter() - started, result.counts["seconds_kept"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        synthesize(str(root / "corpus"), utterances=args.utterances, seed=11, target_utterances=1)
        manifest = root / "corpus" / "pool.jsonl"
        config = parse_config(
            {
                "input": [str(manifest)],
                "output": str(root / "plain"),
                "select": {"method": "random"},
            }
        )
        (root / "plain").mkdir()
        plain_seconds = plain_loop(manifest, root / "plain", config)
        in_process, audio_seconds = beam_stage(manifest, root / "beam1", [])
        two_workers, _ = beam_stage(
            manifest,
            root / "beam2",
            ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        )
    rates = {
        "plain loop": audio_seconds / plain_seconds,
        "Beam in-process": audio_seconds / in_process,
        "Beam 2 workers": audio_seconds / two_workers,
    }
    base = rates["plain loop"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; corpus {audio_seconds:.0f} s")
    print("| runner | audio s / wall s | ratio to plain loop |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {rate / base:.2f} |")
    print(json.dumps({name: round(rate / base, 3) for name, rate in rates.items()}))


if __name__ == "__main__":
    main()
