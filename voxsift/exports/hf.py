"""Hugging Face: the shards themselves under ``DEST/data/`` and a dataset card ``DEST/README.md``.

``datasets``' ``webdataset`` builder reads voxsift shards as they are (``flac`` decodes to audio,
``json`` to a dict with ``text`` and ``weight``), so the export copies the tars, checks each
against the index's sha256, and writes a card. The builder guesses column types from the first
five samples, and a field that is null there but a number later (``confidence``, a manifest's
``snr_db``) then fails the load; so the card declares the types, inferred here over every sample,
in its ``dataset_info``, and maps the splits in its ``configs``. Decoding audio needs
``torchcodec`` (0.8.x for torch 2.9) and FFmpeg.
"""

from __future__ import annotations

import hashlib
import io as bytes_io
from typing import Any

import pyarrow as pa
import yaml

from voxsift import io, shardio
from voxsift.exports.shards import ExportError, absolute, read_index, samples_in

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
ffmpeg`). Without them, read the tars with `webdataset.WebDataset(urls).decode()`.
"""


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


def copy_shard(shards: str, dest: str, entry: dict[str, Any]) -> tuple[str, pa.Schema | None]:
    """Copy one tar to ``DEST/data/`` after checking its sha256; returns the copy and the Arrow
    schema of its samples' JSON (None when the fields' types conflict)."""
    url = io.join(shards, entry["name"])
    data = io.read_bytes(url)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ExportError(f"{entry['name']}: sha256 differs from the index (voxsift verify)")
    path = io.join(dest, "data", entry["name"])
    io.write_bytes_atomic(path, data)
    fields = [s.fields for s in samples_in(url, bytes_io.BytesIO(data), entry["split"])]
    try:
        return path, pa.Table.from_pylist(fields).schema
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


def card(dest: str, index: dict[str, Any], features: list[dict[str, Any]] | None) -> str:
    """The dataset card for the splits that have shards."""
    present = [s for s in SPLITS if index["splits"][s]["shards"]]
    front: dict[str, Any] = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": SPLITS[s], "path": f"data/{s}-*.tar"} for s in present],
            }
        ]
    }
    if features is not None:
        front["dataset_info"] = {"features": features}
    front["task_categories"] = ["automatic-speech-recognition"]
    root = absolute(dest)
    snippet = ", ".join(f'"{SPLITS[s]}": "{io.join(root, "data")}/{s}-*.tar"' for s in present)
    summary = ", ".join(
        f"{SPLITS[s]} {index['splits'][s]['samples']} samples "
        f"({index['splits'][s]['seconds']:.1f} s of audio)"
        for s in present
    )
    return _CARD.format(
        front_matter=yaml.safe_dump(front, sort_keys=False, allow_unicode=True),
        name=io.basename(root.rstrip("/")) or "voxsift dataset",
        config_hash=index.get("config_hash", "unknown"),
        summary=summary,
        snippet_files=snippet,
        root=root,
    )


def export_hf(shards: str, dest: str) -> dict[str, Any]:
    index = read_index(shards)
    if not index["shards"]:
        raise ExportError(f"{io.join(shards, shardio.INDEX)} lists no shard: nothing to export")
    copies = [copy_shard(shards, dest, entry) for entry in index["shards"]]
    features = card_features(unify([schema for _, schema in copies]))
    readme = io.join(dest, "README.md")
    io.write_bytes_atomic(readme, card(dest, index, features).encode("utf-8"))
    samples = {SPLITS[s]: index["splits"][s]["samples"] for s in SPLITS}
    return {
        "card": readme,
        "files": [path for path, _ in copies],
        "samples": samples,
        "typed": features is not None,
    }
