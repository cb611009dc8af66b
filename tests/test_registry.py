"""Kinds through their registries: a toy curate step, selector method and adapter kind, each one
class and one registration, run end to end; unknown names refused at config time, listing the
choices. Every registration made here is undone by its fixture, so no other test sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from conftest import IN_PROCESS
from voxsift import shardio
from voxsift.asr.adapters import WEIGHTS_FILE, AdapterKind, load_trained
from voxsift.asr.kinds import ADAPTERS
from voxsift.config import ConfigError, parse_config
from voxsift.exports import EXPORTS, export
from voxsift.pipelines import run
from voxsift.registry import Lazy, Registry, UnknownKind
from voxsift.selectors.ranking import METHODS, Method
from voxsift.transforms.inference import SegmentHandler
from voxsift.transforms.steps import CURATE_STEPS, CurateStepKind, handler_step

TINY_CTC = "random:ctc?hidden=32&layers=1&conv=16"


# ---- the toy kinds: one class each, registered by the fixtures below --------------------------


class Stamp(SegmentHandler[None]):
    """A curate step that records itself in the ``enhancement`` column of every segment."""

    step = "stamp"

    def __init__(self, section: None):
        super().__init__(batch_size=4)

    def load_model(self) -> None:
        return None

    def process_one(self, segment, model):
        return segment.with_fields(enhancement="stamped")


class Shortest(Method):
    """Shortest segments first; fitted on a small pool sample it reports the size of."""

    def pool_sample(self, settings) -> int:
        return 3

    def fit(self, reference, settings) -> int:
        return len(reference.pool_sample)

    def score(self, members, cell, reference, settings, target_index):
        return [m.duration for m in members]

    def fit_report(self, model) -> dict:
        return {"shortest_fitted_on": model}


class BitFit(AdapterKind):
    """Only the biases train (BitFit); saved, loaded and counted by the AdapterKind defaults."""

    def add(self, network, model, config) -> dict:
        for name, parameter in network.named_parameters():
            if name.endswith(".bias"):
                parameter.requires_grad_(True)
        return {}


@pytest.fixture
def toy_kinds():
    with (
        CURATE_STEPS.added("stamp", CurateStepKind(handler_step(Stamp))),
        METHODS.added("shortest", Shortest()),
        ADAPTERS.added("bitfit", BitFit()),
    ):
        yield
    assert "stamp" not in CURATE_STEPS and "shortest" not in METHODS and "bitfit" not in ADAPTERS


def test_toy_step_method_and_adapter_run_end_to_end(toy_kinds, corpus, tmp_path):
    config = parse_config(
        {
            "input": [str(corpus / "pool.jsonl")],
            "target": [str(corpus / "target.jsonl")],
            "output": str(tmp_path / "run"),
            "enhance": {"method": "none"},
            "label": {"teacher": "none"},
            "normalize": {"enabled": False},
            "select": {"method": "shortest", "budget_count": 8, "require_text": True,
                       "diagnostics_sample": 2},
            "shard": {"max_samples": 4, "valid_fraction": 0.25},
            "train": {"model": TINY_CTC, "adapter": "bitfit", "steps": 2, "warmup_steps": 0,
                      "log_every": 100, "data": {"batch_seconds": 40.0, "max_seconds": 20.0},
                      "eval": {"max_batches": 1}},
        }
    )  # fmt: skip
    record = run.run_all(config, IN_PROCESS, resume=False)
    out = Path(config.output)

    # the step ran after the table's built-in steps, and is counted in its place
    assert list(record["stages"]["curate"]["counts"]["steps"]) == ["quality", "embed", "stamp"]
    segments = pq.read_table(out / "segments", columns=["enhancement"]).to_pylist()
    assert {row["enhancement"] for row in segments} == {"stamped"}

    # the method ranked the candidates, fitted on the pool sample it asked for
    diagnostics = record["stages"]["select"]["counts"]["diagnostics"]
    assert diagnostics["method"] == "shortest"
    assert diagnostics["fit"]["pool_sample"] == 3 == diagnostics["fit"]["shortest_fitted_on"]
    rows = pq.read_table(out / "selection").to_pylist()
    ranked = sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
    assert [r["score"] for r in ranked] == sorted(r["duration"] for r in ranked)
    selected = sum(r["selected"] for r in rows)
    assert 0 < selected <= 8
    shards = str(out / "shards")
    assert shardio.verify(shards) == []
    fields = [f for entry in shardio.read_index(shards)["shards"]
              for _, f in shardio.read_shard(shards, entry).values()]  # fmt: skip
    assert len(fields) == selected and {f["method"] for f in fields} == {"shortest"}
    assert {f["enhancement"] for f in fields} == {"stamped"}

    # the adapter kind trained only the biases (and the new CTC head), saved alone and reloaded
    assert record["train"]["adapter"] == "bitfit" and record["train"]["steps"] == 2
    model, adapter = load_trained(out / "adapter")
    assert adapter.kind == "bitfit"
    trained = adapter.state()
    head = f"{model.new_head}."
    assert any(name.endswith(".bias") and not name.startswith(head) for name in trained)
    assert all(name.endswith(".bias") or name.startswith(head) for name in trained)
    saved = load_file(str(out / "adapter" / WEIGHTS_FILE))
    assert saved.keys() == trained.keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in trained.items())
    assert record["train"]["trainable_parameters"] == sum(t.numel() for t in trained.values())
    with pytest.raises(ValueError, match="bitfit adapters cannot be merged"):
        adapter.merged()


# ---- unknown names are refused when the config is read, with the choices -------------------

BASE = {"input": ["pool.jsonl"], "target": ["target.jsonl"], "output": "out"}


@pytest.mark.parametrize(
    ("override", "field", "choices"),
    [
        ({"select": {"method": "best"}}, "select.method",
         "'nudge', 'random', 'dsir', 'knn', 'confidence'"),
        ({"train": {"adapter": "ia3"}}, "train.adapter",
         "'lora', 'rslora', 's2lora', 'bottleneck', 'full'"),
        ({"label": {"teacher": "wav2letter"}}, "label.teacher",
         "'pocketsphinx', 'whisper:NAME_OR_PATH'"),
        ({"enhance": {"method": "spectral:x"}}, "enhance.method",
         "'rnnoise', 'demucs:NAME[@REPO_DIR]'"),
        ({"embed": {"kinds": ["acoustic", "mfcc"]}}, "embed",
         "'acoustic', 'text' or 'whisper-encoder:NAME_OR_PATH'"),
    ],
)  # fmt: skip
def test_an_unknown_name_is_refused_at_config_time_with_the_choices(override, field, choices):
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, **override})
    message = str(caught.value)
    assert f"{field}:" in message and "unknown" in message and choices in message


def test_registered_kinds_are_choices_and_leave_none_behind(toy_kinds):
    config = parse_config(
        {**BASE, "select": {"method": "shortest"}, "train": {"adapter": "bitfit"}}
    )
    assert config.select.ranking.needs_target is False and config.train.adapter == "bitfit"
    with pytest.raises(ConfigError, match="'confidence', 'shortest'"):
        parse_config({**BASE, "select": {"method": "longest"}})


def test_a_registered_kind_is_gone_after_its_fixture():
    with pytest.raises(ConfigError, match="unknown selector method 'shortest'"):
        parse_config({**BASE, "select": {"method": "shortest"}})
    with pytest.raises(ConfigError, match="unknown adapter kind 'bitfit'"):
        parse_config({**BASE, "train": {"adapter": "bitfit"}})


def test_export_formats_come_from_their_registry(tmp_path):
    from voxsift.cli import build_parser

    assert EXPORTS.names() == ("nemo", "lhotse", "hf")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "out", "--to", "csv", "dest"])
    with pytest.raises(UnknownKind, match="'nemo', 'lhotse', 'hf'"):
        export(str(tmp_path), "csv", str(tmp_path / "dest"))


# ---- the mechanism itself ------------------------------------------------------------------


def test_registry_order_lookup_and_refusals():
    registry: Registry[str] = Registry("colour")
    registry.add("red", "#f00")
    registry.add("blue", "#00f")
    registry.add("green", "#0f0", before="blue")
    assert registry.names() == ("red", "green", "blue") and "green" in registry
    assert registry.get("green") == "#0f0" and registry.check("red") == "red"
    with pytest.raises(ValueError, match="already registered"):
        registry.add("red", "#e00")
    with pytest.raises(UnknownKind, match="unknown colour 'pink'; choose one of 'red', 'green'"):
        registry.get("pink")
    with registry.added("pink", "#fcc") as pink:
        assert pink == "#fcc" and registry.names()[-1] == "pink"
    registry.remove("green")
    assert registry.names() == ("red", "blue")


def test_a_lazy_entry_is_imported_only_when_looked_up():
    registry: Registry = Registry("thing")
    registry.add("dumps", Lazy("json:dumps"))
    registry.add("nothing", Lazy("voxsift.no_such_module:thing"))
    assert registry.names() == ("dumps", "nothing")  # listing imports nothing
    assert registry.get("dumps") is json.dumps
    with pytest.raises(ModuleNotFoundError):
        registry.get("nothing")
    assert Lazy("json:dumps")([1]) == "[1]"
    with pytest.raises(ValueError, match="package.module:attribute"):
        Lazy("json.dumps")
