"""``voxsift train``: the subcommand's arguments (importable without torch) and its entry.

Settings come from the ``train:`` section of CONFIG.yaml when one is given, then from the
options, which win; everything is validated before any work starts, and a bad value is reported
with its field name (``train.lr: ...``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml
from pydantic import ValidationError

from voxsift.asr.kinds import ADAPTERS
from voxsift.trainers.settings import TrainSettings

OVERRIDES = {
    "model": "model",
    "adapter": "adapter",
    "steps": "steps",
    "lr": "lr",
    "rank": "rank",
    "grad_accum": "grad_accum",
    "seed": "seed",
}
"""Option name → top-level TrainSettings field it overrides."""
DATA_OVERRIDES = {"batch_seconds": "batch_seconds", "workers": "num_workers"}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsift train``; unset ones leave the config (or the defaults) alone."""
    parser.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG.yaml",
        help="run config; its train: section and output/shards are used",
    )
    parser.add_argument(
        "--shards",
        help="shard folder (with index.json) or a brace/glob pattern "
        "of .tar URLs; default OUTPUT/shards of CONFIG.yaml",
    )
    parser.add_argument(
        "--out",
        help="folder (local or a URI such as gs://...) that receives the adapter, "
        "checkpoint.pt and metrics.json; default OUTPUT/<train.output> of CONFIG.yaml",
    )
    parser.add_argument("--model", help="hub name, local path, or random:whisper / random:ctc")
    parser.add_argument("--adapter", choices=ADAPTERS.names(), help="adapter kind")
    parser.add_argument("--steps", type=int, help="optimizer steps")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--rank", type=int, help="rank of LoRA, rsLoRA and S2-LoRA")
    parser.add_argument("--grad-accum", type=int, help="batches per optimizer step")
    parser.add_argument("--batch-seconds", type=float, help="padded audio seconds per batch")
    parser.add_argument("--workers", type=int, help="data loader worker processes")
    parser.add_argument("--seed", type=int, help="seed of data order, dropout and adapter init")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt where the last run stopped",
    )


def settings_from(args: argparse.Namespace) -> tuple[TrainSettings, str, str]:
    """(settings, shards, out) from CONFIG.yaml and the options; ValueError names the field."""
    section: dict[str, Any] = {}
    output = None
    if args.config:
        with open(args.config, encoding="utf-8") as stream:
            document = yaml.safe_load(stream) or {}
        section = dict(document.get("train") or {})
        output = document.get("output")
    section.update(
        {
            field: getattr(args, opt)
            for opt, field in OVERRIDES.items()
            if getattr(args, opt) is not None
        }
    )
    data = dict(section.get("data") or {})
    data.update(
        {
            field: getattr(args, opt)
            for opt, field in DATA_OVERRIDES.items()
            if getattr(args, opt) is not None
        }
    )
    if data:
        section["data"] = data
    try:
        settings = TrainSettings.model_validate(section)
    except ValidationError as error:
        raise ValueError(_describe(error)) from None
    shards = args.shards or (f"{str(output).rstrip('/')}/shards" if output else None)
    out = args.out or (f"{str(output).rstrip('/')}/{settings.output}" if output else None)
    if not shards or not out:
        raise ValueError("give CONFIG.yaml (with output:) or both --shards and --out")
    return settings, shards, out


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in ("train", *problem["loc"]))
        lines.append(f"{where}: {problem['msg']}")
    return "invalid train settings:\n  " + "\n  ".join(lines)


def run_train(args: argparse.Namespace) -> int:
    """Entry of ``voxsift train``: 0 when an adapter and metrics.json were written, else 2."""
    from voxsift.trainers.loop import train

    try:
        settings, shards, out = settings_from(args)
    except (ValueError, OSError, yaml.YAMLError) as error:
        print(f"voxsift train: {error}", file=sys.stderr)
        return 2
    try:
        metrics = train(settings, shards, out, resume=args.resume)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"voxsift train: {error}", file=sys.stderr)
        return 2
    final = metrics.get("final_eval")
    scores = f"wer {final['wer']:.3f} cer {final['cer']:.3f}" if final else "no evaluation"
    print(
        f"loss {metrics['loss_start']:.4f} → {metrics['loss_end']:.4f}; {scores}; "
        f"adapter and metrics.json in {out}"
    )
    return 0
