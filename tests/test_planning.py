"""Pure planning functions: segment spans, the budget and shard placement."""

from __future__ import annotations

from voxsift.config import ShardSettings
from voxsift.pipelines.shard import TAR_OVERHEAD, plan
from voxsift.selectors.budget import within_budget
from voxsift.transforms.segment import plan_segments
from voxsift.transforms.settings import SegmentSettings

SEGMENT = SegmentSettings(min_seconds=1.0, max_seconds=10.0)


def test_transcribed_file_that_fits_is_kept_whole_and_trimmed():
    result = plan_segments([(0.5, 2.0), (2.5, 6.0)], has_text=True, settings=SEGMENT)
    assert result.spans == [(0.5, 6.0)] and result.keeps_text


def test_long_file_is_split_at_pauses_and_loses_its_transcript():
    regions = [(0.0, 4.0), (4.5, 9.0), (9.5, 13.0), (13.2, 13.5), (20.0, 45.0)]
    result = plan_segments(regions, has_text=True, settings=SEGMENT)
    assert not result.keeps_text
    assert result.spans[:2] == [(0.0, 9.0), (9.5, 13.5)]
    assert all(end - start <= 10.0 + 1e-9 for start, end in result.spans)
    assert len(result.spans) == 5  # the 25 s region is cut in three equal pieces


def test_short_pieces_are_counted_not_kept():
    result = plan_segments([(0.0, 0.4)], has_text=False, settings=SEGMENT)
    assert result.spans == [] and result.dropped_short == 1


def test_budget_by_hours_and_count():
    assert within_budget([1800, 1800, 600], budget_hours=1.0, budget_count=None) == [
        True,
        True,
        False,
    ]
    assert within_budget([3000, 1200, 600], 1.0, None) == [True, False, True]
    assert within_budget([1, 1, 1], None, 2) == [True, True, False]
    assert within_budget([5, 5], None, None) == [True, True]


def test_shard_plan_is_deterministic_and_bounded():
    entries = [(f"{i:024x}", 10_000 + i) for i in range(100)]
    settings = ShardSettings(max_samples=12, max_bytes=60_000, valid_fraction=0.1, seed=4)
    placed = dict(plan(entries, settings))
    assert placed == dict(plan(list(reversed(entries)), settings))
    assert sum(name.startswith("valid") for name, _ in placed.values()) == 10
    shards: dict[str, list[int]] = {}
    for key, (name, _) in placed.items():
        shards.setdefault(name, []).append(int(key, 16) + 10_000)
    for sizes in shards.values():
        assert len(sizes) <= 12
        assert sum(size + TAR_OVERHEAD for size in sizes) <= 60_000
    reseeded = dict(plan(entries, ShardSettings(max_samples=12, max_bytes=60_000, seed=5)))
    assert reseeded != placed
