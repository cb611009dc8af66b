"""The ``voxsift`` command.

Arguments after a bare ``--`` are Beam pipeline options and reach Beam unchanged, e.g.
``voxsift run cfg.yaml -- --direct_num_workers=2 --direct_running_mode=multi_processing``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence

from voxsift.config import ConfigError, load_config
from voxsift.interrupt import exit_quietly_on_interrupt

_BEAM_HELP = (
    "Beam pipeline options go after a bare '--' and are passed through unchanged, e.g. "
    "'-- --direct_num_workers=2 --direct_running_mode=multi_processing' or "
    "'-- --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp'."
)
_VERBOSE_HELP = "log Beam's progress too"


_RESUME_HELP = "skip stages whose _SUCCESS marker matches the current config and inputs"
_RUN_RESUME_HELP = (
    f"{_RESUME_HELP}; training too (a train: section is a stage), and an interrupted training "
    "continues from its checkpoint"
)


def _add_config_arguments(parser: argparse.ArgumentParser, resume_help: str) -> None:
    parser.add_argument("config", help="run config (YAML); see README 'Configuration'")
    parser.add_argument("--out", help="output folder or URI; overrides 'output' in the config")
    parser.add_argument("--resume", action="store_true", help=resume_help)


def _version() -> str:
    try:
        return importlib.metadata.version("voxsift")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes as well, so ``voxsift run cfg.yaml -v`` works too.

    SUPPRESS as the default: a subcommand that is not given ``-v`` leaves the top-level value.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; it imports only argument definitions (no torch, no Beam)."""
    from voxsift.exports import add_export_arguments
    from voxsift.report import add_report_arguments
    from voxsift.trainers.cli import add_evaluate_arguments, add_train_arguments

    parser = argparse.ArgumentParser(
        prog="voxsift",
        description="Curate, select and shard speech fine-tuning data with Apache Beam.",
        epilog=_BEAM_HELP,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"voxsift {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_common_options()]

    synth = commands.add_parser(
        "synth", help="write a synthetic demo corpus (espeak-ng)", parents=common
    )
    synth.add_argument("out", help="folder for pool.jsonl, target.jsonl and audio/")
    synth.add_argument("--utterances", type=int, default=200, help="pool size (default 200)")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    synth.add_argument(
        "--labeled-fraction", type=float, default=0.5,
        help="share of pool lines that carry 'text' (default 0.5)",
    )  # fmt: skip
    synth.add_argument(
        "--target-condition", default="telephone",
        help="acoustic condition of the target set (default telephone)",
    )  # fmt: skip
    synth.add_argument(
        "--target-utterances", type=int, default=40, help="target set size (default 40)"
    )

    for name, about in (
        ("run", "curate → select → shard (→ train when the config has a train: section)"),
        ("curate", "decode, segment and clean inputs into segments/*.parquet"),
        ("select", "filter, rank and budget segments into selection/*.parquet"),
        ("shard", "write the selected segments as WebDataset shards"),
    ):
        stage = commands.add_parser(name, help=about, description=_BEAM_HELP, parents=common)
        _add_config_arguments(stage, _RUN_RESUME_HELP if name == "run" else _RESUME_HELP)

    add_train_arguments(
        commands.add_parser(
            "train",
            help="fine-tune an adapter straight from shards (LoRA, S2-LoRA, ...)",
            parents=common,
        )
    )
    add_evaluate_arguments(
        commands.add_parser(
            "evaluate",
            help="WER/CER of a model or trained adapter on a manifest or shards, per --by value",
            parents=common,
        )
    )
    add_report_arguments(
        commands.add_parser(
            "report", help="(re)build OUT/report/index.html for a run folder", parents=common
        )
    )
    add_export_arguments(
        commands.add_parser(
            "export", help="export the shards for NeMo, Lhotse or Hugging Face", parents=common
        )
    )

    verify = commands.add_parser(
        "verify", help="check a shard folder: sha256, counts, decoding", parents=common
    )
    verify.add_argument("shards", help="folder holding index.json and the .tar shards")
    return parser


def _split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def _synth(args: argparse.Namespace) -> int:
    from voxsift.synth import synthesize

    summary = synthesize(
        args.out,
        utterances=args.utterances,
        seed=args.seed,
        labeled_fraction=args.labeled_fraction,
        target_condition=args.target_condition,
        target_utterances=args.target_utterances,
    )
    pool, target = summary["pool"], summary["target"]
    print(f"pool:   {pool['manifest']}  {pool['utterances']} utterances, {pool['seconds']:.0f} s")
    print(f"target: {target['manifest']}  {target['utterances']} utterances")
    return 0


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from voxsift.pipelines import run
    from voxsift.summary import describe_stage, render

    config = load_config(args.config, args.out)
    if args.command == "run":
        from voxsift.report import write_report

        record = run.run_all(config, beam_args, args.resume)
        print(render(record))
        print(f"report:    {write_report(config.output)}")
        return 0
    result = run.run_one(args.command, config, beam_args, args.resume)
    print(f"{args.command}: {describe_stage(args.command, result.counts)}")
    return 0


def _ecosystem(args: argparse.Namespace) -> int:
    if args.command == "report":
        from voxsift.report import run_report

        return run_report(args)
    from voxsift.exports import run_export

    return run_export(args)


def _verify(args: argparse.Namespace) -> int:
    from voxsift import shardio

    problems = shardio.verify(args.shards)
    for problem in problems:
        print(problem)
    print(f"{args.shards}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    # Models come from packages, local folders or the Hugging Face cache, never from the network
    # while a run works; HF_HUB_OFFLINE=0 in the environment lets a hub name download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    own, beam_args = _split_beam_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    if argv is None:  # the process's own command line, not a call from Python code
        hint = "; rerun with --resume to keep the stages that finished"
        exit_quietly_on_interrupt(
            f"voxsift: {args.command} interrupted{hint if args.command in _RESUMABLE else ''}"
        )
    try:
        if args.command == "synth":
            return _synth(args)
        if args.command == "verify":
            return _verify(args)
        if args.command in ("report", "export"):
            return _ecosystem(args)
        if args.command == "train":
            from voxsift.trainers.cli import run_train

            return run_train(args)
        if args.command == "evaluate":
            from voxsift.trainers.cli import run_evaluate

            return run_evaluate(args)
        return _run(args, beam_args)
    except (ConfigError, ValueError) as error:
        print(f"voxsift: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # AccountingError and a missing earlier stage among them
        print(f"voxsift: {args.command} failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a folder that vanished, a permission
        where = f" ({error.filename})" if error.filename else ""
        print(f"voxsift: {args.command} failed: {error.strerror or error}{where}", file=sys.stderr)
        return 1


_RESUMABLE = ("run", "curate", "select", "shard", "train")


if __name__ == "__main__":
    sys.exit(main())
