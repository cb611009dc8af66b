"""Lhotse: per split a ``CutSet`` manifest and the recordings and supervisions it is made of.

Built with lhotse's own classes (``Recording``, ``SupervisionSegment``, ``CutSet.from_manifests``)
so the manifests are whatever the installed lhotse writes; the JSONL is gzipped here and written
through FileSystems (lhotse's writer would bypass it on ``gs://``). ``CutSet.from_file`` reads
``DEST/cuts_{split}.jsonl.gz`` back. The audio files under ``DEST/audio/`` are the shard FLACs;
voxsift's weight, confidence and provenance ride in each supervision's ``custom``.
"""

from __future__ import annotations

import gzip
import io as bytes_io
import json
from collections.abc import Iterable
from typing import Any

import soundfile

from voxsift.exports.shards import (
    Destination,
    ExportError,
    ShardSample,
    checked_index,
    read_samples,
    write_audio,
)
from voxsift.schema import SAMPLE_RATE
from voxsift.shardio import ShardError

CUSTOM = ("weight", "confidence", "teacher", "source", "enhancement", "score", "text_status")


def require_lhotse() -> Any:
    """The lhotse module, or an error that says how to get it (it is an optional extra)."""
    try:
        import lhotse
    except ImportError as error:
        raise ExportError(
            "the lhotse export needs lhotse: install voxsift[lhotse] (pip install lhotse)"
        ) from error
    return lhotse


def recording_and_supervision(lhotse: Any, audio_path: str, sample: ShardSample) -> tuple:
    """One sample as a whole-file Recording and one SupervisionSegment covering it."""
    from lhotse.audio import AudioSource

    try:
        frames = soundfile.info(bytes_io.BytesIO(sample.flac)).frames
    except soundfile.LibsndfileError as error:
        raise ShardError(f"sample {sample.key}: its flac does not decode ({error})") from None
    duration = frames / SAMPLE_RATE
    recording = lhotse.Recording(
        id=sample.key,
        sources=[AudioSource(type="file", channels=[0], source=audio_path)],
        sampling_rate=SAMPLE_RATE,
        num_samples=frames,
        duration=duration,
    )
    fields = sample.fields
    supervision = lhotse.SupervisionSegment(
        id=sample.key,
        recording_id=sample.key,
        start=0.0,
        duration=duration,
        channel=0,
        text=fields.get("text") or "",
        language=fields.get("language"),
        speaker=fields.get("speaker"),
        custom={k: fields[k] for k in CUSTOM if fields.get(k) is not None},
    )
    return recording, supervision


def _jsonl_gz(items: Iterable[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def export_lhotse(shards: str, dest: str) -> dict[str, Any]:
    lhotse = require_lhotse()
    index = checked_index(shards)
    parts: dict[str, tuple[list, list]] = {}
    files = {}
    with Destination(dest) as target:
        for sample in read_samples(shards, index):
            pair = recording_and_supervision(lhotse, write_audio(target, sample), sample)
            recordings, supervisions = parts.setdefault(sample.split, ([], []))
            recordings.append(pair[0])
            supervisions.append(pair[1])
        for split, (recordings, supervisions) in sorted(parts.items()):
            recording_set = lhotse.RecordingSet.from_recordings(recordings)
            supervision_set = lhotse.SupervisionSet.from_segments(supervisions)
            cuts = lhotse.CutSet.from_manifests(
                recordings=recording_set, supervisions=supervision_set
            )
            manifests = {"recordings": recording_set, "supervisions": supervision_set, "cuts": cuts}
            for name, manifest in manifests.items():
                target.write(_jsonl_gz(manifest.to_dicts()), f"{name}_{split}.jsonl.gz")
            files[split] = target.path(f"cuts_{split}.jsonl.gz")
    return {"cuts": files, "samples": {s: len(p[0]) for s, p in sorted(parts.items())}}
