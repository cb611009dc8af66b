"""The training loader: voxsift shards → weighted, duration-bucketed batches of model inputs.

It reads shards and nothing else, so any folder of voxsift shards works, local or remote (an
``index.json`` folder, or a brace/glob pattern of tars). Each epoch's stream is a pure function of
(seed, epoch, worker), which is what makes ``--resume`` exact: the position is a batch count.
FLAC is decoded only once a sample's batch is formed, so skipping consumed batches on resume reads
tar bytes but decodes nothing. A sample that cannot be used is counted by reason, never a crash;
the counts ride on the next batch so that they also come back from worker processes.

Token-level loss weights (Ask2Mask's confidence weighting, carried down from the utterance to its
words) are decided here, per sample, and only for a family that can apply them (Whisper; a CTC
loss sums over alignments, so it has no per-token term to weight). A sample gets them when it
trains on the teacher's label (not a reference transcript) and carries one word confidence per
whitespace word of its training text: each word weighs ``floor + (1 − floor) · conf ** power``,
the family spreads that onto the word's tokens and scales the utterance's text tokens to mean 1.
The sample's ``weight`` already says how much the utterance counts; token weights only move that
weight between its words, so the sample's total weight never changes with them. Every other
sample trains with uniform token weights, counted by why (see :data:`TOKEN_WEIGHTING`):
normalization can change the word count ("5 p.m." → "five p m"), and then word confidences no
longer say which word is which.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import torch
import webdataset as wds
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from voxsift.schema import floored_weight
from voxsift.shardio import SAMPLE_RATE, decode_flac
from voxsift.trainers.buckets import bucket_bounds, bucketed
from voxsift.trainers.locate import ShardSet
from voxsift.trainers.settings import DataSettings, TrainSettings

TOKEN_WEIGHTING = (
    "weighted",
    "reference_text",
    "no_word_confidences",
    "bad_word_confidences",
    "word_count_mismatch",
    "token_split_mismatch",
)
"""How a sample's token weights were decided: its own weights, or uniform for the named reason
(``token_split_mismatch``: the word-by-word tokenization does not add up to the text's)."""


@dataclass(frozen=True)
class WordWeighting:
    """Word loss weight from a teacher word confidence: ``floor + (1 − floor) · conf ** power``.

    The same rule as select's utterance weight, for words: ``floor`` at confidence 0, 1 at 1,
    never decreasing as the confidence grows.
    """

    floor: float = 0.1
    power: float = 1.0

    @classmethod
    def from_settings(cls, settings: TrainSettings, family: Any) -> WordWeighting | None:
        """The weighting in force, or None when it is off or the family cannot weight tokens."""
        if not settings.token_weights or not getattr(family, "weights_tokens", False):
            return None
        return cls(settings.token_weight_floor, settings.token_weight_power)

    def weight(self, confidence: float) -> float:
        return floored_weight(confidence, self.floor, self.power)


@dataclass(frozen=True)
class Utterance:
    """A parsed sample whose audio is still FLAC bytes (decoded when its batch is formed)."""

    key: str
    flac: bytes
    text: str
    weight: float
    duration: float
    token_weights: tuple[float, ...] | None = None
    """The text tokens' loss weights (mean 1), None for uniform."""
    token_weighting: str | None = None
    """One of :data:`TOKEN_WEIGHTING`; None when token weighting is not in force."""


@dataclass
class Batch:
    """Model inputs plus what the loop needs beside them. ``size == 0`` carries counts only."""

    keys: list[str]
    texts: list[str]
    weights: Tensor
    durations: list[float]
    inputs: dict[str, Tensor]
    dropped: dict[str, int] = field(default_factory=dict)
    token_weighting: dict[str, int] = field(default_factory=dict)
    """This batch's samples by :data:`TOKEN_WEIGHTING` outcome (empty when not in force)."""

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def seconds(self) -> float:
        return float(sum(self.durations))

    def pin_memory(self) -> Batch:
        """Called by the DataLoader with ``pin_memory=True``: faster host-to-GPU copies."""
        return replace(self, inputs={k: v.pin_memory() for k, v in self.inputs.items()})

    def to(self, device: torch.device) -> Batch:
        inputs = {k: v.to(device, non_blocking=True) for k, v in self.inputs.items()}
        return replace(self, inputs=inputs, weights=self.weights.to(device))


def parse_sample(
    sample: dict[str, Any],
    settings: DataSettings,
    family: Any,
    dropped: Counter,
    weighting: WordWeighting | None = None,
) -> Utterance | None:
    """A raw tar sample → Utterance (with token weights under ``weighting``), or None with the
    reason counted."""
    if "flac" not in sample or "json" not in sample:
        dropped["missing_member"] += 1
        return None
    try:
        meta = json.loads(sample["json"])
        text, weight, duration = meta["text"], float(meta["weight"]), float(meta["duration"])
    except (ValueError, KeyError, TypeError):
        dropped["bad_json"] += 1
        return None
    reason = _unusable(text, weight, duration, settings)
    if not reason and not family.label_fits(text, duration):
        reason = "label_too_long"
    if reason:
        dropped[reason] += 1
        return None
    utterance = Utterance(sample["__key__"], sample["flac"], text, weight, duration)
    if weighting is None:
        return utterance
    tokens, how = token_weights(meta, text, family, weighting)
    return replace(utterance, token_weights=tokens, token_weighting=how)


def token_weights(
    meta: dict[str, Any], text: str, family: Any, weighting: WordWeighting
) -> tuple[tuple[float, ...] | None, str]:
    """The text tokens' weights of a sample (None: uniform) and how they were decided."""
    if meta.get("text_status") == "reference" or meta.get("label_wer") is not None:
        return None, "reference_text"  # word confidences, if any, are of the pseudo-label
    confidences = meta.get("word_confidences")
    if not confidences:
        return None, "no_word_confidences"
    if not isinstance(confidences, list) or not all(_probability(c) for c in confidences):
        return None, "bad_word_confidences"
    if len(confidences) != len(text.split()):
        return None, "word_count_mismatch"
    tokens = family.token_weights(text, [weighting.weight(float(c)) for c in confidences])
    return (tokens, "weighted") if tokens is not None else (None, "token_split_mismatch")


def _probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unusable(text: Any, weight: float, duration: float, settings: DataSettings) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "no_text"
    if not math.isfinite(weight) or weight < 0:
        return "bad_weight"
    if duration < settings.min_seconds:
        return "too_short"
    if duration > settings.max_seconds:
        return "too_long"
    return None


class ShardBatches(IterableDataset):
    """One epoch of batches from a list of shard URLs, reproducible from (seed, epoch, worker).

    ``family`` builds model inputs (it is pickled into workers); ``skip`` batches of this
    process's stream are passed over without decoding, for resuming; ``weighting`` turns on
    token-level loss weights (see the module docstring).
    """

    def __init__(
        self,
        urls: list[str],
        settings: DataSettings,
        family: Any,
        seed: int,
        epoch: int = 0,
        train: bool = True,
        skip: int = 0,
        weighting: WordWeighting | None = None,
    ) -> None:
        super().__init__()
        self.urls, self.settings, self.family = urls, settings, family
        self.seed, self.epoch, self.train, self.skip = seed, epoch, train, skip
        self.weighting = weighting

    def _stream_seed(self) -> int:
        worker = get_worker_info()
        rank = wds.utils.pytorch_worker_info()[0]
        return (
            self.seed * 1_000_003 + self.epoch * 7919 + rank * 131 + (worker.id if worker else 0)
        ) % 2**31

    def _raw(self, dropped: Counter) -> Iterator[dict[str, Any]]:
        def skip_unreadable(error: Exception) -> bool:
            dropped["unreadable_shard"] += 1
            return True

        common = dict(
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
            handler=skip_unreadable,
            empty_check=False,
        )
        if self.train and self.settings.resampled:
            # WebDataset(resampled=True) seeds its shard draws from the clock; this does not.
            shards = wds.ResampledShards(self.urls, seed=self._stream_seed(), deterministic=True)
            return iter(
                wds.DataPipeline(
                    shards, wds.split_by_node, wds.tarfile_to_samples(handler=skip_unreadable)
                )
            )
        shuffle = self.settings.shard_shuffle if self.train else 0
        seed = (self.seed * 7919 + self.epoch) % 2**31
        return iter(wds.WebDataset(self.urls, shardshuffle=shuffle or False, seed=seed, **common))

    def _utterances(self, dropped: Counter) -> Iterator[Utterance]:
        parsed = (
            parse_sample(s, self.settings, self.family, dropped, self.weighting)
            for s in self._raw(dropped)
        )
        stream: Iterator[Utterance] = (u for u in parsed if u is not None)
        if self.train and self.settings.resampled:
            stream = islice(stream, self._samples_per_epoch())
        if self.train and self.settings.shuffle_buffer:
            size = self.settings.shuffle_buffer
            stream = wds.shuffle(size, initial=size, seed=self._stream_seed())(stream)
        return stream

    def _samples_per_epoch(self) -> int:
        total = self.settings.samples_per_epoch or 0
        _, world, _, workers = wds.utils.pytorch_worker_info()
        return max(1, total // (world * max(workers, 1)))

    def __iter__(self) -> Iterator[Batch]:
        dropped: Counter = Counter()
        groups = bucketed(
            self._utterances(dropped),
            duration=lambda u: u.duration,
            bounds=bucket_bounds(
                self.settings.min_seconds, self.settings.max_seconds, self.settings.num_buckets
            ),
            max_seconds=self.settings.batch_seconds,
            buffer=self.settings.bucket_buffer,
            window=self.family.window_seconds,
        )
        for _ in islice(groups, self.skip):
            pass  # consumed before the checkpoint: not decoded, and counted back then
        dropped.clear()
        for group in groups:
            yield self._batch(group, dropped)
        if dropped:
            yield self._batch([], dropped)

    def _batch(self, group: list[Utterance], dropped: Counter) -> Batch:
        """Decode and build inputs; undecodable clips leave the batch, counted as bad_audio."""
        kept, audio = [], []
        for utt in group:
            try:
                audio.append(decode_flac(utt.flac))
                kept.append(utt)
            except (ValueError, RuntimeError):  # AudioError is a ValueError
                dropped["bad_audio"] += 1
        texts = [u.text for u in kept]
        inputs = self.family.collate(audio, texts, **self._token_weights(kept)) if kept else {}
        counts = dict(dropped)
        dropped.clear()
        return Batch(
            keys=[u.key for u in kept],
            texts=texts,
            weights=torch.tensor([u.weight for u in kept], dtype=torch.float32),
            durations=[len(a) / SAMPLE_RATE for a in audio],
            inputs=inputs,
            dropped=counts,
            token_weighting=dict(Counter(u.token_weighting for u in kept if u.token_weighting)),
        )

    @staticmethod
    def _token_weights(kept: list[Utterance]) -> dict[str, Any]:
        """``collate``'s token weight argument, passed only when a sample of the batch has some."""
        if all(u.token_weights is None for u in kept):
            return {}
        return {"token_weights": [u.token_weights for u in kept]}


def _as_is(batch: Batch) -> Batch:
    return batch


def make_loader(dataset: ShardBatches, num_workers: int, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over already-formed batches (batching happens inside the dataset)."""
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_as_is,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(dataset.seed),
    )


def shard_texts(shards: ShardSet) -> Iterator[str]:
    """The text of every train sample, reading only JSON members (for building a vocabulary)."""
    dataset = wds.WebDataset(
        shards.train,
        shardshuffle=False,
        nodesplitter=None,
        workersplitter=None,
        select_files=lambda name: name.endswith(".json"),
        handler=wds.warn_and_continue,
        empty_check=False,
    )
    for sample in dataset:
        try:
            text = json.loads(sample["json"]).get("text")
        except (ValueError, KeyError, AttributeError):
            continue
        if isinstance(text, str):
            yield text
