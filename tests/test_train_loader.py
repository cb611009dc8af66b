"""The training loader: bucketing bounds, padding, weights, decode failures, workers."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

import shardkit
from voxsift.trainers.buckets import (
    bucket_bounds,
    bucketed,
    fixed_size,
    padded_seconds,
    padding_fraction,
)
from voxsift.trainers.locate import resolve_shards
from voxsift.trainers.settings import DataSettings
from voxsift.trainers.shards import ShardBatches, make_loader


class NoFeatures:
    """A family stand-in: the loader's own work without any model's feature extraction."""

    name = "none"
    window_seconds = 0.0

    def collate(self, audio, texts):
        return {}

    def label_fits(self, text, duration):
        return True


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    weights = [float(i % 4) / 2 for i in range(40)]
    return shardkit.write_shards(
        tmp_path_factory.mktemp("shards"),
        train=40,
        valid=8,
        per_shard=10,
        bad_audio=3,
        weights=weights,
    )


def _batches(shards, workers=0, **data):
    settings = DataSettings(**{"batch_seconds": 4.0, "max_seconds": 2.0, **data})
    dataset = ShardBatches(resolve_shards(str(shards)).train, settings, NoFeatures(), seed=3)
    return list(make_loader(dataset, workers))


def test_batches_respect_their_seconds_bound(shards):
    batches = [b for b in _batches(shards) if b.size]
    assert len({b.size for b in batches}) > 1, "batch sizes should vary with clip length"
    assert all(padded_seconds(b.durations) <= 4.0 for b in batches)


def test_bucketing_pads_less_than_fixed_size_batches():
    rng = np.random.default_rng(0)
    durations = list(rng.uniform(0.5, 15.0, size=2000))
    bounds = bucket_bounds(0.5, 15.0, 10)
    dynamic = list(bucketed(durations, float, bounds, max_seconds=120.0, buffer=500))
    assert all(padded_seconds(b) <= 120.0 for b in dynamic)
    mean_size = round(len(durations) / len(dynamic))
    fixed = list(fixed_size(durations, mean_size))
    assert padding_fraction(dynamic) < padding_fraction(fixed) / 2


def test_weights_reach_the_batch_and_bad_audio_is_counted(shards):
    batches = _batches(shards)
    weights = {k: float(w) for b in batches for k, w in zip(b.keys, b.weights, strict=True)}
    assert weights == {shardkit.key("train", i): float(i % 4) / 2 for i in range(3, 40)}
    dropped = sum(b.dropped.get("bad_audio", 0) for b in batches)
    assert dropped == 3


def test_same_seed_same_stream_and_workers_see_every_sample(shards):
    first = [b.keys for b in _batches(shards)]
    assert first == [b.keys for b in _batches(shards)]
    parallel = _batches(shards, workers=2)
    assert sorted(k for b in parallel for k in b.keys) == sorted(k for keys in first for k in keys)


def test_resampled_stream_has_the_epoch_length(shards):
    batches = _batches(shards, resampled=True, samples_per_epoch=25)
    assert sum(b.size + b.dropped.get("bad_audio", 0) for b in batches) == 25


def test_patterns_and_folders_resolve_to_the_same_shards(shards):
    by_index = resolve_shards(str(shards))
    by_glob = resolve_shards(f"{shards}/*.tar")
    by_brace = resolve_shards(f"{shards}/train-{{000000..000003}}.tar")
    assert by_index.train == by_glob.train == by_brace.train
    assert by_index.valid == by_glob.valid
    assert by_index.train_samples == 40


def test_folder_without_index_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="pattern"):
        resolve_shards(str(tmp_path))
