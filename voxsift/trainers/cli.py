"""``voxsift train`` and ``voxsift evaluate``: their arguments (importable without torch) and
their entries.

Train settings come from the ``train:`` section of CONFIG.yaml when one is given, then from the
options, which win; everything is validated before any work starts, and a bad value is reported
with its field name (``train.lr: ...``). ``voxsift evaluate`` scores a model, or a trained adapter
on its base, on a manifest or a shard folder (voxsift/trainers/evaluate.py).
"""

from __future__ import annotations

import argparse
import os
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


EVALUATE_DESCRIPTION = """\
Transcribe every sample of MANIFEST.jsonl or SHARDS_DIR greedily with a model, or a trained
adapter on its base, and score WER and CER against each sample's text through voxsift's
evaluation normalizer (numbers spelled, case, punctuation and fillers ignored), overall and per
value of --by FIELD. Manifest audio is decoded to 16 kHz mono and loudness-normalized as curate
does; shard audio is read as the trainer reads it. A line without text or whose audio cannot be
read is skipped and counted, never an abort."""


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsift evaluate``."""
    parser.description = EVALUATE_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--model",
        help="base model: a local checkpoint folder (Whisper or a CTC encoder, such as one "
        "train wrote with --adapter full), a cached hub name, or random:whisper / random:ctc / "
        "random:parakeet with options (random:whisper?window=10&d_model=64&layers=2); a random "
        "model's characters come from the data's texts. With --adapter it may be omitted: the "
        "adapter names its base, and a different --model is refused",
    )
    parser.add_argument(
        "--adapter",
        metavar="DIR",
        help="folder voxsift train wrote (voxsift_adapter.json and the adapter); its base is "
        "rebuilt from what it recorded",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="MANIFEST.jsonl|SHARDS_DIR",
        help="a JSONL manifest (lines with 'audio', a path relative to the manifest's folder, "
        "and 'text') or a folder voxsift shard wrote (index.json and .tar shards)",
    )
    parser.add_argument(
        "--by",
        metavar="FIELD",
        help="also score per value of this field: a manifest line's top-level field, or a "
        "shard sample's JSON field or its meta (the manifest line's other fields), such as "
        "condition; samples without it count under '(none)'",
    )
    parser.add_argument(
        "--split",
        choices=("all", "train", "valid"),
        default="all",
        help="shards of this split only (default all; ignored for a manifest)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.json",
        help="also write the scores as JSON (local path or URI): wer, cer, n, by "
        "{value: {wer, cer, n}}, skipped counts, model, adapter, data, seconds, examples",
    )
    parser.add_argument(
        "--language",
        help="Whisper language token of a base model (default en); an adapter's own is used, "
        "and a different one refused",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the model runs (default auto: cuda when visible; cuda falls back to the "
        "CPU with a warning)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="clips per batch, longest first (default 16)",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        help="cap on Whisper's greedy decoding (default its decoder length; CTC ignores it)",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    """Entry of ``voxsift evaluate``: prints the table (and writes --out); ValueError → exit 2."""
    _check_out(args.out)
    from voxsift import io
    from voxsift.trainers.evaluate import EvaluateRequest, evaluate

    request = EvaluateRequest(
        data=args.data,
        model=args.model,
        adapter=args.adapter,
        by=args.by,
        split=args.split,
        language=args.language,
        device=args.device,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    try:
        report = evaluate(request)
    except ValueError as error:  # one line, for main's "voxsift: ..."
        raise ValueError(" ".join(str(error).split())) from None
    print(render(report))
    if args.out:
        io.write_json_atomic(args.out, report)
        print(f"scores:  {args.out}")
    return 0


def _check_out(out: str | None) -> None:
    """Refuse an --out that cannot be written before the evaluation, not after it."""
    if not out or "://" in out:
        return
    if os.path.isdir(out):
        raise ValueError(f"--out {out} is a folder; name a file such as scores.json")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ValueError(f"--out {out}: the folder {parent} does not exist")


def render(report: dict[str, Any]) -> str:
    """The report as a few lines of text: what was scored, the skips, a table of the scores."""
    adapter = f" + adapter {report['adapter']} ({report['adapter_kind']})"
    lines = [
        f"model:   {report['model']}{adapter if report['adapter'] else ''}",
        f"data:    {report['data']} ({report['format']}): {report['n']} samples, "
        f"{report['audio_seconds']:.1f} s of audio",
        f"time:    {report['seconds']:.1f} s on {report['device']}",
    ]
    if report["skipped"]:
        counts = ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items())
        lines.append(f"skipped: {sum(report['skipped'].values())} ({counts})")
    rows = [(str(value), cell) for value, cell in report["by"].items()]
    rows.append(("all", report))
    width = max(len(report["by_field"] or ""), *(len(name) for name, _ in rows))
    lines += ["", f"{report['by_field'] or '':<{width}}  {'n':>6}  {'WER':>6}  {'CER':>6}"]
    lines += [
        f"{name:<{width}}  {cell['n']:>6}  {cell['wer']:>6.3f}  {cell['cer']:>6.3f}"
        for name, cell in rows
    ]
    return "\n".join(lines)
