"""A wrong config is refused before any work, with a message that names the field."""

from __future__ import annotations

import pytest

from voxsift.cli import main
from voxsift.config import ConfigError, parse_config
from voxsift.settings import parse_size

BASE = {"input": ["pool.jsonl"], "target": ["target.jsonl"], "output": "out"}


@pytest.mark.parametrize(
    ("override", "field", "hint"),
    [
        ({"select": {"method": "best"}}, "select.method", "'random'"),
        ({"segment": {"max_secs": 3}}, "segment.max_secs", "max_seconds"),
        ({"segment": {"min_seconds": 40}}, "segment", "min_seconds must be below max_seconds"),
        ({"shard": {"max_bytes": "12XB"}}, "shard.max_bytes", "KB, MB, GB"),
        ({"shard": {"valid_fraction": 1.5}}, "shard.valid_fraction", "less than 1"),
        ({"select": {"budget_hours": 1, "budget_count": 3}}, "select", "not both"),
        ({"colour": "blue"}, "colour", "allowed: embed, enhance, ingest, input"),
        ({"input": []}, "input", "at least 1"),
    ],
)
def test_errors_name_the_field(override, field, hint):
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, **override})
    message = str(caught.value)
    assert f"{field}:" in message and hint in message


def test_missing_output_and_sizes():
    with pytest.raises(ConfigError, match="output: required field is missing"):
        parse_config({"input": "x.jsonl"})
    assert parse_config({**BASE, "shard": {"max_bytes": "1.5GB"}}).shard.max_bytes == 1_500_000_000
    assert parse_size("64KiB") == 65536 and parse_size(512) == 512


def test_cli_refuses_a_bad_config_before_any_work(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    out = tmp_path / "out"
    config.write_text(f"input: [a.jsonl]\noutput: {out}\nselect: {{method: magic}}\n")
    assert main(["run", str(config)]) == 2
    assert "select.method" in capsys.readouterr().err
    assert not out.exists()
    config.write_text("input: [a.jsonl\n")
    assert main(["run", str(config)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
