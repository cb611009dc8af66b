"""Peak memory of the curate and shard stages at 1x and 10x corpus size.

Each stage runs in a fresh child process (``voxsift curate`` / ``voxsift select`` / ``voxsift
shard``) and reports its own peak RSS, so the figures are per stage and include the interpreter,
torch and Beam. Every curate step but pseudo-labeling runs (pocketsphinx would make the 10x run
take most of an hour on 2 cores without changing what is measured). The goal is a 10x/1x ratio
under 1.5 for both stages: memory must not grow with the corpus.

    .venv/bin/python bench/memory_scaling.py [--base 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from voxsift.synth import synthesize

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=60, help="utterances at 1x")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        small = measure(Path(scratch), args.base)
        large = measure(Path(scratch), args.base * 10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 1x = {args.base} utterances")
    print("| stage | peak MB at 1x | peak MB at 10x | ratio 10x/1x |")
    print("|---|---:|---:|---:|")
    for stage in ("curate", "shard"):
        print(f"| {stage} | {small[stage]:.0f} | {large[stage]:.0f} | "
              f"{large[stage] / small[stage]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
