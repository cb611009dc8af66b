"""NeMo: ``DEST/{train,valid}_manifest.jsonl`` beside the audio files under ``DEST/audio/``.

One JSON object a line with NeMo's ``audio_filepath`` (absolute), ``duration`` and ``text``, plus
voxsift's per-sample ``weight`` and, when the sample has them, ``confidence``, ``teacher`` and
``source``: NeMo's manifest readers keep extra keys, so a weighted loss can pick them up.
"""

from __future__ import annotations

import json
from typing import Any

from voxsift.exports.shards import Destination, checked_index, read_samples, write_audio

OPTIONAL = ("confidence", "teacher", "source")


def manifest_line(audio_path: str, fields: dict[str, Any]) -> dict[str, Any]:
    line = {
        "audio_filepath": audio_path,
        "duration": fields["duration"],
        "text": fields.get("text") or "",
        "weight": fields.get("weight", 1.0),
    }
    line.update({k: fields[k] for k in OPTIONAL if fields.get(k) is not None})
    return line


def export_nemo(shards: str, dest: str) -> dict[str, Any]:
    index = checked_index(shards)
    lines: dict[str, list[str]] = {}
    files = {}
    with Destination(dest) as target:
        for sample in read_samples(shards, index):
            entry = manifest_line(write_audio(target, sample), sample.fields)
            lines.setdefault(sample.split, []).append(json.dumps(entry, ensure_ascii=False))
        for split, rows in sorted(lines.items()):
            data = ("\n".join(rows) + "\n").encode("utf-8")
            files[split] = target.write(data, f"{split}_manifest.jsonl")
    return {"manifests": files, "samples": {s: len(r) for s, r in sorted(lines.items())}}
