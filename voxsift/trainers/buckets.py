"""Duration bucketing: dynamic batches bounded by padded seconds, not by a sample count.

A fixed batch size either wastes memory on short clips or overflows on long ones, and mixing
lengths in a batch pads short clips up to the longest. Samples wait in duration buckets and a
bucket is emitted once the next sample would push it over ``max_seconds`` of padded audio.

The bucket bounds are fixed in advance, spaced geometrically between the duration limits, so they
need no pass over the data. Lhotse's DynamicBucketingSampler differs here: it estimates its bins
from the data, reading the first ``num_cuts_for_bins_estimate`` cuts (10,000 by default) and
placing the bounds so that each bucket holds about the same total duration (unless
``duration_bins`` are given), which fits a skewed duration distribution better at the cost of
that first read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def bucket_bounds(min_seconds: float, max_seconds: float, count: int) -> list[float]:
    """Upper bounds of ``count`` buckets spaced geometrically between the duration limits.

    Geometric spacing keeps the relative padding inside a bucket about the same for short and
    long clips.
    """
    low = max(min_seconds, 0.1)
    ratio = (max_seconds / low) ** (1.0 / count)
    return [low * ratio ** (i + 1) for i in range(count - 1)] + [math.inf]


def padded_seconds(durations: Sequence[float], window: float = 0.0) -> float:
    """Audio a batch occupies once padded: samples × max(longest clip, fixed model window)."""
    return len(durations) * max(max(durations, default=0.0), window)


def padding_fraction(batches: Iterable[Sequence[float]], window: float = 0.0) -> float:
    """Share of padded batch audio that is padding, over many batches of durations."""
    real = padded = 0.0
    for durations in batches:
        real += sum(durations)
        padded += padded_seconds(durations, window)
    return 1.0 - real / padded if padded else 0.0


def bucketed(
    samples: Iterable[T],
    duration: Callable[[T], float],
    bounds: Sequence[float],
    max_seconds: float,
    buffer: int,
    window: float = 0.0,
) -> Iterator[list[T]]:
    """Group samples of similar duration into batches whose padded seconds stay ≤ max_seconds.

    Deterministic for a given input order (the input is shuffled upstream). When ``buffer``
    samples wait in total, the bucket holding the most audio is emitted early so memory stays
    bounded. A sample that alone exceeds the bound is the caller's error (settings forbid it).
    """
    buckets: list[list[T]] = [[] for _ in bounds]
    waiting = 0
    for sample in samples:
        seconds = duration(sample)
        index = next(i for i, bound in enumerate(bounds) if seconds <= bound)
        bucket = buckets[index]
        trial = [duration(s) for s in bucket] + [seconds]
        if bucket and padded_seconds(trial, window) > max_seconds:
            waiting -= len(bucket)
            yield bucket
            bucket = buckets[index] = []
        bucket.append(sample)
        waiting += 1
        if waiting >= buffer:
            fullest = max(range(len(buckets)), key=lambda i: sum(map(duration, buckets[i])))
            waiting -= len(buckets[fullest])
            yield buckets[fullest]
            buckets[fullest] = []
    yield from (bucket for bucket in buckets if bucket)


def fixed_size(samples: Iterable[T], size: int) -> Iterator[list[T]]:
    """Batches of ``size`` samples in arrival order: the baseline bucketing is measured against."""
    batch: list[T] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
