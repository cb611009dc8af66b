"""``voxsift evaluate``: WER and CER of a model, with or without a trained adapter, on a manifest
or a shard folder, overall and per value of one field.

Scores are the trainer's: greedy decoding through the model family's ``transcribe`` and every
error rate through :mod:`voxsift.evaltext`, so a figure here is comparable with ``voxsift train``'s
evaluation and with every other WER/CER in the project. Audio is prepared the way training audio
was: a manifest's audio is decoded to 16 kHz mono and loudness-normalized to curate's default
target; a shard's FLAC, which curate already normalized, is decoded as the trainer's loader
decodes it.

The work is a flat recipe: check the request → read the entries (references, groups, audio not
yet decoded) → build the model → decode → transcribe longest first → score. A line or sample that
cannot be scored is skipped and counted by reason (:class:`Skips`), never an abort; a request
that cannot work (a missing file, a model that does not load, an adapter on another base, no
sample left) raises ValueError with a one-line message before the audio is decoded.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from voxsift import io, shardio
from voxsift.asr.adapters import INFO_FILE, load_trained
from voxsift.asr.devices import resolve_device
from voxsift.asr.models import SpeechModel, build_model
from voxsift.audio import MAX_GAIN_DB, TARGET_LUFS, load_mono_16k, normalize_loudness
from voxsift.evaltext import corpus_error_rates, normalize_for_eval
from voxsift.schema import SAMPLE_RATE

MAX_LINE_BYTES = 1_000_000
"""A longer manifest line is skipped as malformed (curate's ``ingest.max_line_bytes``)."""
NO_VALUE = "(none)"
"""The group of a sample that lacks the ``--by`` field."""
SPLITS = ("all", "train", "valid")
SHOWN = 10
"""Skipped samples described one by one in the report; the rest are only counted."""


@dataclass(frozen=True)
class EvaluateRequest:
    """What to score, on what: the options of ``voxsift evaluate``."""

    data: str
    model: str | None = None
    adapter: str | None = None
    by: str | None = None
    split: str = "all"
    language: str | None = None
    device: str = "auto"
    batch_size: int = 16
    max_new_tokens: int | None = None


@dataclass(frozen=True)
class Entry:
    """One sample to score; ``audio`` is a path (manifest) or FLAC bytes (shard), not decoded."""

    where: str
    text: str
    group: str | None
    audio: str | bytes


@dataclass
class Skips:
    """Samples that could not be scored: a count per snake_case reason, the first few described."""

    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, reason: str, where: str, message: str, count: int = 1) -> None:
        self.counts[reason] += count
        if len(self.problems) < SHOWN:
            self.problems.append(f"{where}: {reason}: {' '.join(message.split())}")

    def summary(self) -> str:
        counts = ", ".join(f"{reason} {n}" for reason, n in sorted(self.counts.items()))
        return f" (skipped: {counts})" if counts else ""


# ---- the request ------------------------------------------------------------------------


def check(request: EvaluateRequest) -> str:
    """The base model spec to build; ValueError when the options cannot work together."""
    if request.split not in SPLITS:
        raise ValueError(f"--split {request.split!r}: one of {', '.join(SPLITS)}")
    if request.batch_size < 1:
        raise ValueError(f"--batch-size {request.batch_size}: must be 1 or more")
    if request.max_new_tokens is not None and request.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens {request.max_new_tokens}: must be 1 or more")
    if request.adapter is None:
        if request.model is None:
            raise ValueError("give --model, or --adapter with the folder voxsift train wrote")
        _refuse_adapter_as_model(request.model)
        return request.model
    info = adapter_info(request.adapter)
    base = str(info["base"]["spec"])
    itself = info["voxsift_adapter"] == "full" and same_model(request.model, request.adapter)
    if request.model is not None and not (same_model(request.model, base) or itself):
        raise ValueError(
            f"--adapter {request.adapter} was trained on {base!r}, not on --model "
            f"{request.model!r}: omit --model (the adapter names its base) or give that one"
        )
    trained = info.get("language")
    if request.language is not None and trained is not None and request.language != trained:
        raise ValueError(
            f"--adapter {request.adapter} was trained with --language {trained}, not "
            f"{request.language}: omit --language"
        )
    return base


def adapter_info(folder: str) -> dict[str, Any]:
    """The ``voxsift_adapter.json`` of an adapter folder; ValueError when there is none."""
    path = Path(folder) / INFO_FILE
    if not path.is_file():
        raise ValueError(f"--adapter {folder}: no {INFO_FILE}, so not a folder voxsift train wrote")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # UnicodeDecodeError too
        info = None
    base = info.get("base") if isinstance(info, dict) and "voxsift_adapter" in info else None
    if not isinstance(base, dict) or not isinstance(base.get("spec"), str):
        raise ValueError(f"--adapter {folder}: {INFO_FILE} is not one voxsift train wrote")
    return info


def _refuse_adapter_as_model(spec: str) -> None:
    folder = Path(spec)
    if (folder / INFO_FILE).is_file() and not (folder / "config.json").is_file():
        raise ValueError(f"--model {spec} is an adapter folder of voxsift train: pass --adapter")


def same_model(given: str | None, recorded: str) -> bool:
    """The same spec, or two paths of the same local folder."""
    if given is None or given == recorded:
        return given is not None
    local = not given.startswith("random:") and os.path.exists(given)
    return local and os.path.exists(recorded) and os.path.samefile(given, recorded)


# ---- the data ---------------------------------------------------------------------------


def read_entries(data: str, by: str | None, split: str, skips: Skips) -> tuple[str, list[Entry]]:
    """("shards" | "manifest", the entries) of a shard folder (index.json) or a JSONL manifest."""
    folder = data.removesuffix(shardio.INDEX).rstrip("/") or data
    if io.exists(io.join(folder, shardio.INDEX)):
        return "shards", list(_shard_entries(folder, by, split, skips))
    if not io.exists(data):
        raise ValueError(f"--data {data}: no such manifest or shard folder")
    if not io.is_remote(data) and os.path.isdir(data):
        raise ValueError(f"--data {data}: a folder without {shardio.INDEX}, so no shard folder")
    try:
        return "manifest", list(_manifest_entries(data, by, skips))
    except ValueError as error:  # InputError: a FIFO, a device, a folder in the file's place
        raise ValueError(f"--data {data}: {error}") from None


def _manifest_entries(path: str, by: str | None, skips: Skips):
    folder = io.parent(path)
    for number, raw in enumerate(io.iter_input_lines(path, MAX_LINE_BYTES), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            skips.add("malformed_line", where, "not a JSON line, or longer than 1 MB")
            continue
        if not isinstance(line, dict) or not isinstance(line.get("audio"), str):
            skips.add("malformed_line", where, "no 'audio' path")
            continue
        if not scorable(line.get("text")):
            skips.add("no_text", where, "no 'text', or nothing left of it after normalization")
            continue
        audio = io.resolve(line["audio"], folder)
        yield Entry(where, line["text"], group_of(line, by), audio)


def _shard_entries(folder: str, by: str | None, split: str, skips: Skips):
    index = shardio.read_index(folder)
    for shard in index["shards"]:
        if split != "all" and shard["split"] != split:
            continue
        try:
            samples = shardio.read_shard(folder, shard)
        except shardio.ShardError as error:
            skips.add("unreadable_shard", shard["name"], str(error), count=shard["samples"])
            continue
        for key, (flac, fields) in samples.items():
            where = f"{shard['name']}:{key}"
            if not scorable(fields.get("text")):
                skips.add("no_text", where, "the sample's text is empty")
                continue
            yield Entry(where, fields["text"], group_of(fields, by, "meta"), flac)


def scorable(text: Any) -> bool:
    """A reference that a WER can be computed against (evaltext drops empty references)."""
    return isinstance(text, str) and bool(normalize_for_eval(text))


def group_of(record: dict[str, Any], by: str | None, nested: str | None = None) -> str | None:
    """The ``by`` value of a record, or of its ``nested`` object (a sample's ``meta``), as text."""
    if by is None:
        return None
    value = record.get(by)
    inner = record.get(nested) if nested else None
    if value is None and isinstance(inner, dict):
        value = inner.get(by)
    if value is None:
        return NO_VALUE
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def read_audio(source: str | bytes) -> np.ndarray:
    """16 kHz mono float32: a shard's FLAC as training reads it, a file as curate prepares it."""
    if isinstance(source, bytes):
        return shardio.decode_flac(source)
    with io.open_input(source) as handle:
        audio, _ = load_mono_16k(handle.read())
    return normalize_loudness(audio, TARGET_LUFS, MAX_GAIN_DB)[0]  # curate's defaults


def decode(entries: Sequence[Entry], window: float, skips: Skips) -> list[tuple[Entry, Any]]:
    """(entry, audio) of each entry whose audio reads and fits the model's input window."""
    decoded = []
    for entry in entries:
        try:
            audio = read_audio(entry.audio)
        except (ValueError, OSError, RuntimeError) as error:  # AudioError is a ValueError
            skips.add("unreadable_audio", entry.where, str(error))
            continue
        if window and len(audio) > window * SAMPLE_RATE:
            seconds = len(audio) / SAMPLE_RATE
            skips.add("longer_than_window", entry.where, f"{seconds:.1f} s > {window:g} s")
            continue
        decoded.append((entry, audio))
    return decoded


# ---- the model --------------------------------------------------------------------------


def load_model(
    spec: str | None = None,
    adapter: str | None = None,
    language: str | None = None,
    texts: Sequence[str] = (),
) -> tuple[SpeechModel, nn.Module, dict[str, Any]]:
    """(model, the network to run, what the report says of it) for a base ``spec``, or for the
    trained ``adapter`` folder on the base it recorded.

    A base that needs a character vocabulary (``random:*``, a CTC encoder without a tokenizer)
    builds it from ``texts``, as training builds it from the shards.
    """
    if adapter is not None:
        model, trained = load_trained(Path(adapter))
        about = {"model": model.spec, "adapter": adapter, "adapter_kind": trained.kind}
        return model, trained.network, about
    if spec is None:
        raise ValueError("a base model spec or an adapter folder is needed")
    model = build_model(spec, language or "en", texts=lambda: texts)
    return model, model.network, {"model": spec, "adapter": None, "adapter_kind": None}


def pick_device(name: str) -> torch.device:
    """cpu, or cuda when asked for (or ``auto``) and present; an absent GPU falls back, warned."""
    return torch.device(resolve_device(name))


@torch.no_grad()
def transcribe(
    model: SpeechModel,
    network: nn.Module,
    audio: Sequence[np.ndarray],
    batch_size: int = 16,
    device: torch.device | None = None,
    max_new_tokens: int | None = None,
) -> list[str]:
    """Greedy hypotheses of 16 kHz clips, in their order; batched longest first (less padding).

    ``max_new_tokens`` caps Whisper's decoding (default: its decoder's length); CTC ignores it.
    """
    device = device or torch.device("cpu")
    network = network.to(device).eval()
    limit = max_new_tokens or getattr(model.family, "max_tokens", 0)
    order = sorted(range(len(audio)), key=lambda i: -len(audio[i]))
    hypotheses = [""] * len(audio)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        inputs = model.family.collate([audio[i] for i in chosen], [""] * len(chosen))
        inputs = {name: value.to(device) for name, value in inputs.items()}
        for i, text in zip(chosen, model.family.transcribe(network, inputs, limit), strict=True):
            hypotheses[i] = text
    return hypotheses


# ---- the scores -------------------------------------------------------------------------


def score(
    references: Sequence[str], hypotheses: Sequence[str], groups: Sequence[str] | None = None
) -> dict[str, Any]:
    """{"wer", "cer", "n", "by": {group: {"wer", "cer", "n"}}}: corpus-level rates overall and
    per group (errors summed over a group's utterances, as evaltext computes them)."""
    result = {**corpus_error_rates(list(references), list(hypotheses)), "n": len(references)}
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups or ()):
        members[group].append(i)
    result["by"] = {
        group: {
            **corpus_error_rates([references[i] for i in ix], [hypotheses[i] for i in ix]),
            "n": len(ix),
        }
        for group, ix in sorted(members.items())
    }
    return result


def evaluate(request: EvaluateRequest) -> dict[str, Any]:
    """Score the request's model on its data: the report ``voxsift evaluate`` prints and writes."""
    started = time.monotonic()
    spec = check(request)
    # the data: references and groups now, audio decoded once the model is known to load
    skips = Skips()
    form, entries = read_entries(request.data, request.by, request.split, skips)
    if not entries:
        raise ValueError(f"--data {request.data}: no sample with audio and text{skips.summary()}")
    model, network, about = load_model(
        spec, request.adapter, request.language, [e.text for e in entries]
    )
    decoded = decode(entries, model.family.window_seconds, skips)
    if not decoded:
        raise ValueError(f"--data {request.data}: no sample could be read{skips.summary()}")
    # greedy decoding and the scores
    device = pick_device(request.device)
    audio = [clip for _, clip in decoded]
    hypotheses = transcribe(
        model, network, audio, request.batch_size, device, request.max_new_tokens
    )
    references = [entry.text for entry, _ in decoded]
    groups = [entry.group for entry, _ in decoded] if request.by else None
    return {
        **score(references, hypotheses, groups),
        **about,
        "data": request.data,
        "format": form,
        "split": request.split if form == "shards" else None,
        "by_field": request.by,
        "skipped": dict(sorted(skips.counts.items())),
        "skipped_examples": skips.problems,
        "audio_seconds": round(sum(len(a) for a in audio) / SAMPLE_RATE, 3),
        "device": device.type,
        "seconds": round(time.monotonic() - started, 3),
        "examples": [
            {"where": entry.where, "ref": entry.text, "hyp": hyp}
            for (entry, _), hyp in list(zip(decoded, hypotheses, strict=True))[:3]
        ],
    }
