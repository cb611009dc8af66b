"""Hugging Face: the shards themselves under ``DEST/data/`` and a dataset card ``DEST/README.md``.

``datasets``' ``webdataset`` builder reads voxsift shards as they are (``flac`` decodes to audio,
``json`` to a dict with ``text`` and ``weight``), so the export copies the tars, each checked
first as ``voxsift verify`` checks it (sha256, only ``flac`` and ``json`` members: a ``.pickle``
one is refused), and writes a card whose reading snippets decode only those two members. The
builder guesses column types from the first five samples, and a field that is null there but a
number later (``confidence``, a manifest's ``snr_db``) then fails the load; so the card declares
the types, inferred here over every sample, in its ``dataset_info``, and maps the splits in its
``configs``. Decoding audio needs ``torchcodec`` (0.8.x for torch 2.9) and FFmpeg.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import yaml

from voxsift import io, shardio
from voxsift.exports.shards import Destination, ExportError, absolute, checked_index

SPLITS = {"train": "train", "valid": "validation"}
"""voxsift's split names → the names ``datasets`` gives them."""
_DTYPES = {
    pa.null(): "null",
    pa.bool_(): "bool",
    pa.int64(): "int64",
    pa.float64(): "float64",
    pa.string(): "string",
}
"""The Arrow types JSON infers to, and their names in a dataset card's features."""

_CARD = """---
{front_matter}---

# {name}

Speech curated by voxsift (config `{config_hash}`): {summary}.

Each sample is a WebDataset member pair: `flac` (16 kHz mono) and `json` with `text` (the training
target), `weight` (per-sample loss weight), `duration`, `source`, `confidence`, `teacher`,
`enhancement`, selection `score` and `rank`, and `meta` (the manifest's own fields).

## Load

```python
from datasets import load_dataset, load_dataset_builder

data_files = {{{snippet_files}}}
features = load_dataset_builder("{root}").info.features  # column types from this card
dataset = load_dataset("webdataset", data_files=data_files, features=features)
sample = dataset["train"][0]
print(sample["json"]["text"], sample["json"]["weight"])
audio = sample["flac"].get_all_samples()  # torchcodec AudioDecoder: .data, .sample_rate
```

`load_dataset("{root}")` reads the same files through this card alone. Decoding `flac` needs
`pip install datasets "torchcodec==0.8.*"` (for torch 2.9) and FFmpeg (Debian: `apt-get install
ffmpeg`).

## Without `datasets`

The tars are WebDataset shards. Read only the members voxsift writes and decode each explicitly:
a bare `WebDataset(urls).decode()` also unpickles any `.pickle` or `.pyd` member, which runs
code if a tar was ever replaced by a hostile one.

```python
import glob
import io
import json

import soundfile
import webdataset as wds


def voxsift_member(name):  # the only members voxsift writes; nothing else is even read
    return name.endswith((".flac", ".json"))


urls = sorted(glob.glob("{first_pattern}"))
shards = wds.WebDataset(urls, shardshuffle=False, select_files=voxsift_member)
samples = shards.map_dict(
    json=json.loads, flac=lambda data: soundfile.read(io.BytesIO(data), dtype="float32")
)
first = next(iter(samples))
waveform, rate = first["flac"]
print(first["json"]["text"], first["json"]["weight"], rate, len(waveform))
```
"""
_CONFIG_HASH = re.compile(r"[0-9A-Za-z._:-]{1,80}")
"""What a config hash may look like on the card (it comes from index.json, which is input)."""


def feature(dtype: pa.DataType) -> dict[str, Any]:
    """One Arrow type as a dataset card feature entry (without its name)."""
    if pa.types.is_struct(dtype):
        return {"struct": [{"name": f.name, **feature(f.type)} for f in dtype]}
    if pa.types.is_list(dtype):
        inner = feature(dtype.value_type)
        return {"list": inner.get("dtype") or inner.get("struct") or inner}
    if dtype not in _DTYPES:
        raise TypeError(f"no dataset card type for {dtype}")
    return {"dtype": _DTYPES[dtype]}


def card_features(json_schema: pa.Schema | None) -> list[dict[str, Any]] | None:
    """The card's features: key, url, audio and the JSON struct; None if the JSON has no type."""
    if json_schema is None:
        return None
    try:
        fields = [{"name": f.name, **feature(f.type)} for f in json_schema]
    except TypeError:
        return None
    return [
        {"name": "__key__", "dtype": "string"},
        {"name": "__url__", "dtype": "string"},
        {"name": "flac", "dtype": "audio"},
        {"name": "json", "struct": fields},
    ]


def copy_shard(shards: str, target: Destination, entry: dict[str, Any]) -> tuple[str, Any]:
    """Copy one checked tar to ``DEST/data/``; returns the copy and the Arrow schema of its
    samples' JSON (None when the fields' types conflict)."""
    data, samples = shardio.checked_shard(shards, entry)
    path = target.write(data, "data", entry["name"])
    try:
        return path, pa.Table.from_pylist([fields for _, fields in samples.values()]).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return path, None


def unify(schemas: list[pa.Schema | None]) -> pa.Schema | None:
    """One schema for every shard's JSON (null widens to the type seen elsewhere)."""
    if not schemas or any(s is None for s in schemas):
        return None
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def split_totals(index: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per voxsift split with shards: its shard, sample and second counts, from the entries."""
    totals: dict[str, dict[str, float]] = {}
    for entry in index["shards"]:
        split = totals.setdefault(entry["split"], {"shards": 0, "samples": 0, "seconds": 0.0})
        split["shards"] += 1
        split["samples"] += entry["samples"]
        split["seconds"] += entry["seconds"]
    return {s: totals[s] for s in SPLITS if s in totals}


def card(dest: str, index: dict[str, Any], features: list[dict[str, Any]] | None) -> str:
    """The dataset card for the splits that have shards."""
    totals = split_totals(index)
    front: dict[str, Any] = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": SPLITS[s], "path": f"data/{s}-*.tar"} for s in totals],
            }
        ]
    }
    if features is not None:
        front["dataset_info"] = {"features": features}
    front["task_categories"] = ["automatic-speech-recognition"]
    root = absolute(dest)
    patterns = {s: f"{io.join(root, 'data')}/{s}-*.tar" for s in totals}
    snippet = ", ".join(f'"{SPLITS[s]}": "{pattern}"' for s, pattern in patterns.items())
    summary = ", ".join(
        f"{SPLITS[s]} {t['samples']} samples ({t['seconds']:.1f} s of audio)"
        for s, t in totals.items()
    )
    config_hash = str(index.get("config_hash"))
    return _CARD.format(
        front_matter=yaml.safe_dump(front, sort_keys=False, allow_unicode=True),
        name=io.basename(root.rstrip("/")) or "voxsift dataset",
        config_hash=config_hash if _CONFIG_HASH.fullmatch(config_hash) else "unknown",
        summary=summary,
        snippet_files=snippet,
        first_pattern=next(iter(patterns.values())),
        root=root,
    )


def export_hf(shards: str, dest: str) -> dict[str, Any]:
    index = checked_index(shards)
    if not index["shards"]:
        raise ExportError(f"{io.join(shards, shardio.INDEX)} lists no shard: nothing to export")
    with Destination(dest) as target:
        copies = [copy_shard(shards, target, entry) for entry in index["shards"]]
        features = card_features(unify([schema for _, schema in copies]))
        readme = target.write(card(dest, index, features).encode("utf-8"), "README.md")
    totals = split_totals(index)
    return {
        "card": readme,
        "files": [path for path, _ in copies],
        "samples": {SPLITS[s]: int(totals.get(s, {}).get("samples", 0)) for s in SPLITS},
        "typed": features is not None,
    }
