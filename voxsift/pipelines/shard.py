"""The shard stage: segments + selection → {train,valid}-NNNNNN.tar and index.json.

Placement is decided once, from the selected keys alone: the order is a hash of (seed, key), the
first ``valid_fraction`` of that order is the valid split, and shards roll over by sample count and
bytes in that order. So which shard a sample lands in, and where in it, depends only on the keys
and the seed — never on the runner, the number of workers or the order rows arrive in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from voxsift import io, shardio
from voxsift.config import RunConfig, ShardSettings
from voxsift.progress import ProgressSink
from voxsift.schema import uniform_hash

STAGE = "shard"
_NAMESPACE = f"voxsift.{STAGE}"
TAR_OVERHEAD = 3 * 512 + 1024
"""Header blocks and padding per sample, plus room for its JSON, when planning shard bytes."""
_SELECTION_FIELDS = ("key", "selected", "weight", "score", "rank", "method", "expected_wer")


def plan(entries: list[tuple[str, int]], settings: ShardSettings) -> Iterator[tuple[str, Any]]:
    """(key, audio bytes) of every selected sample → (key, (shard name, position))."""
    ordered = sorted(entries, key=lambda e: (uniform_hash(settings.seed, e[0], "shard"), e[0]))
    valid_count = round(len(ordered) * settings.valid_fraction)
    if settings.valid_fraction > 0 and len(ordered) > 1:
        valid_count = max(1, valid_count)
    splits = {"valid": ordered[:valid_count], "train": ordered[valid_count:]}
    for split, members in splits.items():
        number, count, used = 0, 0, 0
        for key, nbytes in members:
            size = nbytes + TAR_OVERHEAD
            if count and (count >= settings.max_samples or used + size > settings.max_bytes):
                number, count, used = number + 1, 0, 0
            yield key, (shardio.shard_name(split, number), count)
            count, used = count + 1, used + size


class WriteShard(beam.DoFn):
    """(shard name, [(position, sample)]) → the shard written atomically, and its index entry."""

    def __init__(self, folder: str, progress: ProgressSink):
        self._folder = folder
        self._progress = progress
        self._samples = Metrics.counter(_NAMESPACE, "samples_written")

    def process(self, element: tuple[str, list[tuple[int, dict[str, Any]]]]) -> Iterator[dict]:
        name, placed = element
        samples = [sample for _, sample in sorted(placed, key=lambda p: p[0])]
        self._samples.inc(len(samples))
        entry = shardio.write_shard(self._folder, name, samples)
        self._progress.add(len(samples), entry["seconds"])
        yield entry

    def finish_bundle(self) -> None:
        self._progress.flush()


def _joined(element: tuple[str, dict[str, list]], config_hash: str) -> Iterator[Any]:
    key, groups = element
    if not groups["place"]:
        return
    (shard, position), chosen, row = groups["place"][0], groups["chosen"][0], groups["row"][0]
    yield shard, (position, shardio.make_sample(row, chosen, config_hash))


def build(
    pipeline: beam.Pipeline, config: RunConfig, config_hash: str, progress: ProgressSink
) -> None:
    folder = io.join(config.output, "shards")
    segments = io.join(config.output, "segments", "*.parquet")
    chosen = (
        pipeline
        | "ReadSelection"
        >> beam.io.ReadFromParquet(
            io.join(config.output, "selection", "*.parquet"), columns=list(_SELECTION_FIELDS)
        )
        | "Selected" >> beam.Filter(lambda row: row["selected"])
        | "ByKey" >> beam.Map(lambda row: (row["key"], row))
    )
    sizes = (
        pipeline
        | "ReadSizes" >> beam.io.ReadFromParquet(segments, columns=["key", "audio_bytes"])
        | "SizeByKey" >> beam.Map(lambda row: (row["key"], row["audio_bytes"]))
    )
    placement = (
        {"chosen": chosen, "size": sizes}
        | "JoinSizes" >> beam.CoGroupByKey()
        | "SelectedSizes"
        >> beam.FlatMap(lambda kv: [(kv[0], kv[1]["size"][0])] if kv[1]["chosen"] else [])
        | "GatherSizes" >> beam.combiners.ToList()
        | "Plan" >> beam.FlatMap(plan, config.shard)
    )
    rows = (
        pipeline
        | "ReadSegments" >> beam.io.ReadFromParquet(segments, columns=list(shardio.SEGMENT_COLUMNS))
        | "RowByKey" >> beam.Map(lambda row: (row["key"], row))
    )
    _ = (
        {"place": placement, "chosen": chosen, "row": rows}
        | "Join" >> beam.CoGroupByKey()
        | "Samples" >> beam.FlatMap(_joined, config_hash)
        | "ByShard" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(folder, progress))
        | "GatherEntries" >> beam.combiners.ToList()
        | "WriteIndex" >> beam.Map(lambda found: shardio.write_index(folder, found, config_hash))
    )


def count(output: str, counters: dict[str, int]) -> dict[str, Any]:
    index = shardio.read_index(io.join(output, "shards"))
    return {
        "samples_written": counters.get("samples_written", 0),
        "shards": len(index["shards"]),
        "train_samples": index["splits"]["train"]["samples"],
        "valid_samples": index["splits"]["valid"]["samples"],
        "seconds": round(
            index["splits"]["train"]["seconds"] + index["splits"]["valid"]["seconds"], 3
        ),
    }


def check(counts: dict[str, Any]) -> list[str]:
    if counts["samples_written"] != counts["train_samples"] + counts["valid_samples"]:
        return ["shard: samples written != samples in the index"]
    return []
