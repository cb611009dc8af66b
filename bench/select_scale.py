"""Nudge scoring at scale: fit + score time and peak memory for 10^4 .. 10^6 candidates.

Candidates are random 256-d unit vectors, the target 2,000 unit vectors from a shifted
distribution. Each size runs in a fresh child process, so its peak RSS is its own; candidates are
generated chunk by chunk (as a Beam worker sees them), and only the fit and the scoring are timed.
In the same run, POT's ``ot.bregman.empirical_sinkhorn`` solves the full problem (every candidate
in one OT problem, as GOT-D states it) at each size while its memory stays under the same 4 GiB
(enforced with RLIMIT_DATA) and it finishes within the time limit; the largest such size gives the
baseline ratio, and the rank correlation of its candidate potentials with ours.

    .venv/bin/python bench/select_scale.py [--sizes 10000 100000 1000000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

DIM, TARGETS, CHUNK, MEMORY_GOAL = 256, 2000, 1 << 16, 4 << 30
POT_SECONDS = 600


def unit_rows(rng: np.random.Generator, count: int, shift: float = 0.0) -> np.ndarray:
    rows = rng.standard_normal((count, DIM)).astype(np.float32)
    rows[:, 0] += shift
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def candidate_chunks(count: int):
    """The same candidates on every call, chunk by chunk, without holding them all."""
    for number, start in enumerate(range(0, count, CHUNK)):
        yield unit_rows(np.random.default_rng([1, number]), min(CHUNK, count - start))


def targets() -> np.ndarray:
    return unit_rows(np.random.default_rng(0), TARGETS, shift=0.6)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(count: int, neighbors: int | None, threads: int) -> dict:
    """Fit the target potential on a 5,000-candidate sample, then score every candidate."""
    from voxsift.selectors import nudge
    from voxsift.selectors.index import VectorIndex, math_threads
    from voxsift.selectors.settings import NudgeSettings

    settings = NudgeSettings(neighbors=neighbors)
    with math_threads(threads):
        sample = next(candidate_chunks(count))[: settings.pool_sample]
        started = time.perf_counter()
        model = nudge.fit(targets(), sample, settings)
        index = VectorIndex(model.targets) if neighbors else None
        fitted = time.perf_counter()
        scored, scores = 0.0, []
        for chunk in candidate_chunks(count):
            begin = time.perf_counter()
            scores.append(nudge.scores(model, chunk, index))
            scored += time.perf_counter() - begin
    if "SCORES_OUT" in os.environ:
        np.save(os.environ["SCORES_OUT"], np.concatenate(scores))
    return {"fit_s": fitted - started, "score_s": scored, "iterations": model.iterations}


def pot(count: int) -> dict:
    """POT's empirical Sinkhorn on the whole problem; candidate potentials g = ε·log v."""
    import ot

    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_GOAL, MEMORY_GOAL))
    candidates = np.concatenate(list(candidate_chunks(count))).astype(np.float64)
    started = time.perf_counter()
    _, log = ot.bregman.empirical_sinkhorn(
        targets().astype(np.float64), candidates, 0.1, numIterMax=2000, stopThr=1e-4, log=True
    )
    seconds = time.perf_counter() - started
    np.save(os.environ["SCORES_OUT"], 0.1 * np.log(log["v"]))
    return {"fit_s": 0.0, "score_s": seconds, "iterations": len(log["err"]) * 10}


def child(args: list[str], threads: int, scores_out: str | None = None) -> dict | None:
    """Run one measurement in a fresh process; None when it failed or ran out of time."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if scores_out:
        env["SCORES_OUT"] = scores_out
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", *args], capture_output=True, text=True,
            env=env, timeout=POT_SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(kind: str, count: int, neighbors: int, threads: int) -> None:
    result = pot(count) if kind == "pot" else ours(count, neighbors or None, threads)
    print(json.dumps({**result, "peak_mib": peak_mib()}))


def spearman(first: str, second: str) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.load(first), np.load(second)).statistic)


def row(label: str, count: int, result: dict | None) -> str:
    if result is None:
        return f"| {label} | {count:,} | — | — | — | — | failed (memory or time) |"
    total = result["fit_s"] + result["score_s"]
    return (
        f"| {label} | {count:,} | {result['fit_s']:.1f} | {result['score_s']:.1f} | {total:.1f} "
        f"| {count / total:,.0f} | {result['peak_mib']:,.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "N", "NEIGHBORS", "THREADS"))
    args = parser.parse_args()
    if args.child:
        kind, count, neighbors, threads = args.child
        run_child(kind, int(count), int(neighbors), int(threads))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads used")
    print("| scorer | candidates | fit s | score s | total s | candidates/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        scratch = os.path.join(folder, "scores")
        results = measure_ours(args.sizes, args.threads, scratch)
        handled = measure_pot(args.sizes, args.threads, scratch, results)
        _summary(results, handled, scratch)


def measure_ours(sizes: list[int], threads: int, scratch: str) -> dict:
    """Our scorer over every candidate and over its 64 nearest targets, per size."""
    results = {}
    for count in sizes:
        for neighbors in (0, 64):
            label = "voxsift nudge" + (f", {neighbors} nearest targets" if neighbors else "")
            out = f"{scratch}_ours_{count}_{neighbors}.npy"
            command = ["ours", str(count), str(neighbors), str(threads)]
            results[label, count] = child(command, threads, None if neighbors else out)
            print(row(label, count, results[label, count]), flush=True)
    return results


def measure_pot(sizes: list[int], threads: int, scratch: str, results: dict) -> int | None:
    """POT at growing sizes until one fails; the largest size it handled."""
    handled = None
    for count in sizes:
        out = f"{scratch}_pot_{count}.npy"
        results["pot", count] = child(["pot", str(count), "0", str(threads)], threads, out)
        label = "POT empirical_sinkhorn (full problem)"
        print(row(label, count, results["pot", count]), flush=True)
        if results["pot", count] is None:
            break
        handled = count
    return handled


def _summary(results: dict, handled: int | None, scratch: str) -> None:
    mine = results.get(("voxsift nudge", 10**6))
    if mine is not None:
        total = mine["fit_s"] + mine["score_s"]
        ok = total <= 300 and mine["peak_mib"] <= MEMORY_GOAL / 2**20
        print(f"\ngoal (10^6 in <= 300 s, <= 4096 MiB): {total:.1f} s, "
              f"{mine['peak_mib']:,.0f} MiB -> {'met' if ok else 'NOT met'}")  # fmt: skip
    if handled is None:
        print("POT handled none of the sizes within 4 GiB and the time limit")
        return
    theirs, ours_ = results["pot", handled], results["voxsift nudge", handled]
    ratio = theirs["score_s"] / (ours_["fit_s"] + ours_["score_s"])
    rho = spearman(f"{scratch}_ours_{handled}_0.npy", f"{scratch}_pot_{handled}.npy")
    print(
        f"POT's largest size within 4 GiB: {handled:,}; POT time / voxsift time there: "
        f"{ratio:.1f}x; Spearman rank correlation of candidate potentials: {rho:.3f}"
    )


if __name__ == "__main__":
    main()
