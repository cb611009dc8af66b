"""Near-duplicates and copies of target samples are dropped with the key they matched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile

from voxsift.config import parse_config
from voxsift.pipelines import run
from voxsift.synth import speak

SENTENCES = {
    "original": "The old lamp in the kitchen is quite bright.",
    "distinct_1": "Can you carry the heavy basket to the station tomorrow?",
    "distinct_2": "Please bring twelve apples to the bakery before noon.",
    "target": "Why did Anna paint the wooden fence in the garden?",
}


def _perturbed(audio: np.ndarray, rate: int) -> np.ndarray:
    """Quieter, 30 ms shorter at each end, with white noise 60 dB below the speech."""
    noise = np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(np.mean(audio**2) / np.mean(noise**2)) * 10 ** (-60 / 20)
    crop = int(0.03 * rate)
    return 0.7 * (audio + noise)[crop:-crop]


def _write_corpus(folder: Path) -> None:
    clips = {name: speak(text, voice="en-us", rate_wpm=160) for name, text in SENTENCES.items()}
    files = {name: audio for name, (audio, _) in clips.items()}
    files["exact_copy"] = files["original"]
    files["perturbed_copy"] = _perturbed(*clips["original"])
    files["target_copy"] = files["target"]
    for name, audio in files.items():
        soundfile.write(folder / f"{name}.flac", audio, clips["original"][1], subtype="PCM_16")
    pool = ["original", "exact_copy", "perturbed_copy", "distinct_1", "distinct_2", "target_copy"]
    lines = [{"audio": f"{name}.flac"} for name in pool]
    lines[0]["text"] = SENTENCES["original"]  # a transcript makes it the copy to keep
    (folder / "pool.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "target.jsonl").write_text(json.dumps({"audio": "target.flac"}) + "\n")


def test_copies_are_dropped_with_the_key_they_match(tmp_path):
    _write_corpus(tmp_path)
    config = parse_config(
        {
            "input": [str(tmp_path / "pool.jsonl")],
            "target": [str(tmp_path / "target.jsonl")],
            "output": str(tmp_path / "out"),
            "select": {"method": "random"},
        }
    )
    run.run_one("curate", config, [], resume=False)
    counts = run.run_one("select", config, [], resume=False).counts
    segments = pq.read_table(tmp_path / "out" / "segments", columns=["key", "source"]).to_pylist()
    key_of = {Path(s["source"]).stem: s["key"] for s in segments}
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "selection").to_pylist()}
    outcome = {
        name: (rows[key]["reason"], rows[key]["matched_key"]) for name, key in key_of.items()
    }
    # Random ranks by a hash of each key, and keys hash the (temporary) paths, so any one of the
    # three copies may come first: exactly one is kept, and the other two name it.
    copies = ("original", "exact_copy", "perturbed_copy")
    (kept,) = [name for name in copies if outcome[name][0] == "selected"]
    assert outcome == {
        **{name: ("filtered_near_duplicate", key_of[kept]) for name in copies if name != kept},
        kept: ("selected", None),
        "distinct_1": ("selected", None),
        "distinct_2": ("selected", None),
        "target_copy": ("filtered_contaminated", key_of["target"]),
        "target": ("target_not_included", None),
    }
    assert counts["by_reason"]["filtered_near_duplicate"] == 2
    evaluation = str(tmp_path / "out" / "segments" / "*.parquet")
    select = config.select.model_copy(update={"decontaminate_with": [evaluation]})
    again = config.model_copy(update={"select": select})
    run.run_one("select", again, [], resume=False)
    pool = [
        r for r in pq.read_table(tmp_path / "out" / "selection").to_pylist() if r["role"] == "pool"
    ]
    assert {r["reason"] for r in pool} == {"filtered_contaminated"}
    assert all(r["matched_key"] in key_of.values() for r in pool)
