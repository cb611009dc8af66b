"""The command line itself: fast to start, --version, -v before or after the subcommand."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from voxsift.cli import build_parser

COMMANDS = (
    "synth",
    "run",
    "curate",
    "select",
    "shard",
    "train",
    "evaluate",
    "report",
    "export",
    "verify",
)

_PROBE = """
import json, sys
from voxsift.cli import build_parser
for argv in [["--help"], ["--version"]] + [[name, "--help"] for name in sys.argv[1:]]:
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pass
heavy = ("torch", "apache_beam", "scipy", "webdataset", "transformers")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_help_of_every_command_imports_neither_torch_nor_beam():
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *COMMANDS], capture_output=True, text=True, check=True
    )
    imported = json.loads(done.stdout.splitlines()[-1])
    assert imported == [], f"--help imported {sorted({m.split('.')[0] for m in imported})}"
    assert done.stdout.count("usage: voxsift") == 1 + len(COMMANDS)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("voxsift ")


@pytest.mark.parametrize(
    "argv, verbose",
    [
        (["run", "cfg.yaml"], False),
        (["-v", "run", "cfg.yaml"], True),
        (["run", "cfg.yaml", "-v"], True),
        (["verify", "--verbose", "shards"], True),
        (["train", "--steps", "3", "-v"], True),
    ],
)
def test_verbose_before_or_after_the_command(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose
