"""Closed-loop evaluation: does curation improve target-domain accuracy after fine-tuning?

    .venv/bin/python bench/closed_loop.py --small --out /tmp/closed_loop   # smoke run, < 10 min
    .venv/bin/python bench/closed_loop.py --out bench-out/closed_loop      # full run, by hand

1. A world with domain shift (closed_loop_world.py): a clean source domain (four voices), a pool
   of other voices, noises, reverberation, fast speech and telephone speech in which the target
   domain (telephone speech of two unseen voices) is one tenth, a small labeled target set and
   held-out target and source test sets.
2. A base model trained from scratch by voxsift's own trainer (``adapter: full``) on the source
   domain's shards, made by ``voxsift run``. It stands in for a pretrained checkpoint: it is a
   checkpoint folder, and everything after takes it by its path as it would take a hub model.
3. The pool is curated by ``voxsift run``: labeled by a teacher (the base itself, ``ctc:BASE``,
   with confidences, or pocketsphinx), then selected by each method at the same budget with the
   target set added (``include_target``) and sharded. Curate runs once; ``--resume`` reruns only
   select and shard per method.
4. The base is fine-tuned with the same adapter and steps on each selection, for each seed
   (selection seed and training seed), and scored on the target and source test sets (CER;
   source CER measures forgetting). The OT distance from the target to each selected set and the
   target domain's share of it come from the select stage's diagnostics.

Each finished piece (world, base, each fine-tuned model and its scores) is kept under --out and
reused by a rerun with the same settings. Results: OUT/results.json and OUT/results.md
(OUT/results-transcribed.* with ``--candidates transcribed``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from closed_loop_eval import (  # noqa: E402
    TestSet,
    error_rates,
    load_test_set,
    model_error_rates,
    spread,
    summarize,
    table,
    teacher_table,
)
from closed_loop_world import WorldSpec, build_world, read_manifest  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from voxsift.config import ConfigError, RunConfig, parse_config  # noqa: E402
from voxsift.pipelines.run import run_all  # noqa: E402
from voxsift.pipelines.stage import fingerprint  # noqa: E402
from voxsift.trainers.loop import train  # noqa: E402
from voxsift.trainers.settings import TrainSettings  # noqa: E402

PLAIN = {"weighting": "none", "label_risk": 0.0}
LABEL_AWARE = {"weighting": "none", "label_risk": 1.0}
METHODS: dict[str, dict[str, Any]] = {
    "random": {"method": "random", **PLAIN},
    "confidence": {"method": "confidence", **PLAIN},
    "knn": {"method": "knn", **PLAIN},
    "dsir": {"method": "dsir", **PLAIN},
    "nudge": {"method": "nudge", **PLAIN},
    "nudge+confidence": {"method": "nudge", **PLAIN, "weighting": "confidence"},
    "knn+label": {"method": "knn", **LABEL_AWARE},
    "dsir+label": {"method": "dsir", **LABEL_AWARE},
    "nudge+label": {"method": "nudge", **LABEL_AWARE},
    "nudge+label+calibrated": {"method": "nudge", **LABEL_AWARE, "weighting": "calibrated"},
    "target-only": {"method": "random", **PLAIN, "where": {"condition": []}},
}
"""Select settings per compared method. ``+label`` ranks by the method's pool quantile plus the
calibrated expected label WER (``label_risk`` 1; README, Selection), the plain ones by the
method's score alone (``label_risk`` 0). Only ``nudge+confidence`` and ``+calibrated`` weight
the loss, so the others differ by what they select alone; ``target-only`` selects nothing from
the pool (the target set alone), the reference that tells whether pool data helps at all."""


@dataclass(frozen=True)
class Plan:
    """Everything that sizes a run: the world, the base's training, the fine-tuning."""

    world: WorldSpec
    base_model: str
    base_steps: int
    base_lr: float
    budget: int
    adapter: str
    rank: int
    finetune_steps: int
    finetune_lr: float
    batch_seconds: float
    seeds: tuple[int, ...]


FULL = Plan(
    world=WorldSpec(),
    base_model="random:parakeet",
    base_steps=1200,
    base_lr=2e-3,
    budget=300,
    adapter="lora",
    rank=16,
    finetune_steps=100,
    finetune_lr=2e-3,
    batch_seconds=60.0,
    seeds=(0, 1, 2),
)
MEDIUM = replace(
    FULL,
    world=WorldSpec(source_train=600, source_test=100, pool=1000, target=50, target_test=150),
    base_steps=600,
)
"""A third of the pool and half the base's data: what a real teacher labels in about half an
hour on two CPU cores (Whisper base, int8, at a real-time factor of about 0.4)."""
SMALL = Plan(
    world=WorldSpec(source_train=48, source_test=12, pool=80, target=8, target_test=12),
    base_model="random:parakeet?hidden=48&layers=1&channels=8&kernel=7",
    base_steps=12,
    base_lr=2e-3,
    budget=16,
    adapter="lora",
    rank=4,
    finetune_steps=4,
    finetune_lr=2e-3,
    batch_seconds=30.0,
    seeds=(0,),
)


TEACHERS = {
    "whisper-base": "faster-whisper:base",
    "whisper-tiny.en": "faster-whisper:tiny.en",
    "ctc": "ctc:{base}",
    "pocketsphinx": "pocketsphinx",
}
"""``--teacher`` choices → ``label.teacher``. The real multilingual Whisper base (packaged,
faster-whisper int8) is the realistic teacher: a stronger model than the student labels the
pool; ``ctc`` is the student's own base, the weak-teacher case."""


WHISPER_LR = 1e-3
"""Peak lr of the Whisper student's LoRA: a pretrained model takes smaller steps than the CTC
base trained here."""


def curate_sections(teacher: str, enhance: str = "none") -> dict[str, Any]:
    """The curate steps' sections: the teacher runs on every segment, after ``enhance``.

    Enhancement is off unless asked for (``--enhance``: test audio is never enhanced);
    normalization and quality are off: the world's text has no numbers, and no filter reads the
    quality columns. Transcribed segments are labeled too, so every candidate has a confidence
    to rank and weight by, and the transcribed ones a label WER to calibrate it with.
    """
    return {
        "enhance": {"method": enhance},
        "label": {
            "teacher": teacher,
            "relabel_transcribed": True,
            "device": "cpu",
            "language": "en",
        },
        "normalize": {"enabled": False},
        "quality": {"enabled": False},
    }


def base_config(paths: dict[str, Path], output: Path) -> RunConfig:
    """The source domain through curate → select (everything) → shard, 5% for validation."""
    return parse_config(
        {
            "input": [str(paths["source_train"])],
            "output": str(output),
            **curate_sections("none"),
            "embed": {"kinds": []},
            "select": {"method": "random", "weighting": "none", "dedup": False},
            "shard": {"valid_fraction": 0.05},
        }
    )


@dataclass(frozen=True)
class Student:
    """The model fine-tuned on each selection: its ``train.model`` and its adapter's sizes."""

    name: str
    model: str
    lr: float | None = None
    """Fine-tuning peak lr; None: the plan's."""


@dataclass(frozen=True)
class Loop:
    """What every comparison run shares: sizes, world, base, teacher, student, tests, folder."""

    plan: Plan
    paths: dict[str, Path]
    base: Path
    """The CTC base trained on the source domain (the ``ctc`` student and teacher)."""
    teacher: str
    student: Student
    tests: list[TestSet]
    out: Path
    enhance: str = "none"

    @property
    def pool_key(self) -> str:
        """Curate runs once per (base, teacher, world, enhancement); select and shard per method."""
        parts: list[Any] = [str(self.base), self.teacher, asdict(self.plan.world)]
        return fingerprint(parts if self.enhance == "none" else [*parts, self.enhance])

    @property
    def pool_run(self) -> Path:
        return self.out / f"pool-run-{self.pool_key}"


def pool_config(loop: Loop, method: str, seed: int, candidates: str) -> RunConfig:
    """The pool curated with the teacher, selected by ``method`` at the plan's budget.

    ``candidates`` "transcribed" restricts the pool to segments with a reference transcript,
    which separates what a method selects from the quality of the teacher's pseudo-labels.
    """
    where = {"text_status": ["reference"]} if candidates == "transcribed" else {}
    select = {
        "where": where,
        **METHODS[method],
        "budget_count": loop.plan.budget,
        "include_target": True,
        "seed": seed,
        "diagnostics_field": "condition",
    }
    return parse_config(
        {
            "input": [str(loop.paths["pool"])],
            "target": [str(loop.paths["target"])],
            "output": str(loop.pool_run),
            **curate_sections(loop.teacher, loop.enhance),
            "embed": {"kinds": ["acoustic"]},
            "select": select,
            "shard": {"valid_fraction": 0.0, "seed": seed},
        }
    )


def train_settings(plan: Plan, **fields: Any) -> TrainSettings:
    data = {"batch_seconds": plan.batch_seconds, "max_seconds": 16.0, "shuffle_buffer": 500}
    return TrainSettings(save_every=10_000, log_every=25, data=data, **fields)


def train_base(plan: Plan, paths: dict[str, Path], out: Path) -> Path:
    """The base checkpoint folder: source shards by ``voxsift run``, then full training."""
    key = fingerprint([asdict(plan.world), plan.base_model, plan.base_steps, plan.base_lr])
    folder = out / f"base-{key}"
    if (folder / "metrics.json").exists():
        return folder
    run = out / f"base-run-{key}"
    run_all(base_config(paths, run), [], resume=True)
    shutil.rmtree(folder, ignore_errors=True)
    settings = train_settings(
        plan, model=plan.base_model, adapter="full", steps=plan.base_steps, lr=plan.base_lr
    )
    metrics = train(settings, str(run / "shards"), str(folder))
    final = metrics["final_eval"] or {}
    print(f"closed loop: base trained, valid CER {final.get('cer')}", flush=True)
    return folder


def selection_figures(record: dict[str, Any]) -> dict[str, Any]:
    """OT distance target→selection and the target domain's share of the selected pool rows."""
    diagnostics = record["stages"]["select"]["counts"].get("diagnostics") or {}
    ot = diagnostics.get("ot") or {}
    chosen = (diagnostics.get("composition") or {}).get("selected") or {}
    total = sum(chosen.values())
    return {
        "ot_to_selected": ot.get("target_to_selected"),
        "target_share": chosen.get("target", 0) / total if total else None,
        "selected": record["stages"]["select"]["counts"]["selected"],
    }


def finetune_one(loop: Loop, config: RunConfig, seed: int, folder: Path) -> dict[str, Any]:
    """Select and shard (curate reused), fine-tune the base on the shards, score the result."""
    record = run_all(config, [], resume=True)
    shutil.rmtree(folder, ignore_errors=True)
    plan = loop.plan
    settings = train_settings(
        plan,
        model=loop.student.model,
        adapter=plan.adapter,
        rank=plan.rank,
        alpha=2.0 * plan.rank,
        steps=plan.finetune_steps,
        lr=loop.student.lr or plan.finetune_lr,
        seed=seed,
    )
    train(settings, str(loop.pool_run / "shards"), str(folder))
    scores = error_rates(folder, loop.tests)
    return {
        "seed": seed,
        "target_cer": scores["target"]["cer"],
        "target_wer": scores["target"]["wer"],
        "source_cer": scores["source"]["cer"],
        **selection_figures(record),
    }


def compare(
    loop: Loop, methods: list[str], candidates: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows (method, seed, scores) for every method that this checkout can run; skip notes."""
    tuning = {k: v for k, v in asdict(loop.plan).items() if k not in ("world", "seeds")}
    parts: list[Any] = [loop.pool_key, tuning, candidates]
    if loop.student.name != "ctc":
        parts.append(asdict(loop.student))
    finetunes = loop.out / f"finetune-{fingerprint(parts)}"
    rows, skipped = [], {}
    for method in methods:
        for seed in loop.plan.seeds:
            folder = finetunes / f"{method}-{seed}"
            done = folder / "scores.json"
            if done.exists():
                rows.append(json.loads(done.read_text()))
                continue
            try:
                config = pool_config(loop, method, seed, candidates)
                row = {"method": method, **finetune_one(loop, config, seed, folder)}
            except (ConfigError, NotImplementedError) as error:
                skipped[method] = str(error).splitlines()[-1].strip()
                print(f"closed loop: skipping {method}: {skipped[method]}", flush=True)
                break
            done.write_text(json.dumps(row, indent=1))
            rows.append(row)
    return rows, skipped


def write_results(out: Path, name: str, result: dict[str, Any], teacher: str) -> str:
    """NAME.json (everything) and NAME.md (the tables and how they were made)."""
    summary = summarize(result["rows"])
    markdown = table(summary, result["base"])
    notes = [f"- skipped {m}: {why}" for m, why in result["skipped"].items()]
    parts = [f"`{result['command']}`", "", markdown, "", *notes, "", teacher]
    text = "\n".join(parts).rstrip() + "\n"
    (out / f"{name}.json").write_text(json.dumps({**result, "summary": summary}, indent=1))
    (out / f"{name}.md").write_text(text)
    return text


class Clock:
    """Wall-clock seconds per phase and in total, for results.json."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        begun = time.monotonic()
        value = function(*args)
        self.laps[name] = round(time.monotonic() - begun, 1)
        self.laps["total"] = round(time.monotonic() - self.started, 1)
        return value


def best_method(summary: list[dict[str, Any]]) -> str | None:
    """The pool-selecting method with the lowest mean target CER (random and target-only aside)."""
    scored = [
        (statistics.fmean(entry["target_cer"]), entry["method"])
        for entry in summary
        if entry["method"] not in ("random", "target-only") and entry["target_cer"]
    ]
    return min(scored)[1] if scored else None


def budget_sweep(
    loop: Loop, budgets: list[int], methods: list[str], candidates: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The comparison again at each budget, for ``methods`` only; rows carry their budget."""
    rows, skipped = [], {}
    for budget in budgets:
        sized = replace(loop, plan=replace(loop.plan, budget=budget))
        found, missed = compare(sized, methods, candidates)
        rows += [{**row, "budget": budget} for row in found]
        skipped.update(missed)
    return rows, skipped


def plot_budgets(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Target CER against budget, mean ± sd over seeds, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(row["method"] for row in rows):
        points = sorted({row["budget"] for row in rows if row["method"] == method})
        means, sds = [], []
        for budget in points:
            values = [
                r["target_cer"] for r in rows if r["method"] == method and r["budget"] == budget
            ]
            mean, sd = spread(values)
            means.append(mean)
            sds.append(sd or 0.0)
        axes.errorbar(points, means, yerr=sds, marker="o", capsize=3, label=method)
    axes.set_xscale("log")
    axes.set_xlabel("budget (pool utterances selected, target set added)")
    axes.set_ylabel("target CER (mean ± sd over seeds)")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def make_student(name: str, base: Path, out: Path, check_prompts: int) -> Student:
    """``ctc``: the base trained here; ``whisper-tiny.en``: the real packaged tiny.en, converted
    to transformers once and checked to give faster-whisper's greedy transcripts on
    ``check_prompts`` real prompts (ct2_whisper) before any result is used."""
    if name == "ctc":
        return Student("ctc", str(base))
    from ct2_whisper import convert

    folder = convert(out / "whisper-tiny.en", check_prompts=check_prompts)
    return Student(name, str(folder), lr=WHISPER_LR)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="working folder (reused by reruns)")
    parser.add_argument("--small", action="store_true", help="the smoke-test sizes")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: 3 full, 1 small)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--medium", action="store_true", help="a third of the full pool")
    parser.add_argument(
        "--teacher",
        choices=list(TEACHERS),
        default="whisper-base",
        help="who pseudo-labels the pool: real Whisper base or tiny.en (faster-whisper), the "
        "student's own base (ctc), or pocketsphinx",
    )
    parser.add_argument(
        "--student",
        choices=["ctc", "whisper-tiny.en"],
        default="ctc",
        help="fine-tuned on each selection: the CTC base trained here from scratch, or the "
        "real Whisper tiny.en (LoRA)",
    )
    parser.add_argument(
        "--enhance",
        default="none",
        help="enhance.method of the pool's curation (e.g. deepfilternet); test audio never is",
    )
    parser.add_argument(
        "--budgets",
        type=int,
        nargs="*",
        default=[],
        help="more budgets to compare random and the best method at (e.g. 100 1000)",
    )
    parser.add_argument(
        "--sweep-methods",
        nargs="+",
        choices=list(METHODS),
        help="methods of the budget sweep (default: random and the best of the main comparison)",
    )
    parser.add_argument(
        "--candidates",
        choices=["all", "transcribed"],
        default="all",
        help="pool segments a method may select: all (half pseudo-labeled by the teacher) or "
        "only those with a reference transcript",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    transformers_logging.disable_progress_bar()
    plan = SMALL if args.small else MEDIUM if args.medium else FULL
    if args.seeds:
        plan = replace(plan, seeds=tuple(range(args.seeds)))
    out = Path(args.out).resolve()
    clock = Clock()
    paths = clock.lap("world", build_world, out / "world", plan.world)
    base = clock.lap("base", train_base, plan, paths, out)
    teacher = TEACHERS[args.teacher].format(base=base)
    checks = 5 if plan is SMALL else 20
    student = clock.lap("student", make_student, args.student, base, out, checks)
    tests = [load_test_set(n, read_manifest(paths[f"{n}_test"])) for n in ("target", "source")]
    base_scores = model_error_rates(student.model, tests)
    loop = Loop(plan, paths, base, teacher, student, tests, out, args.enhance)
    rows, skipped = clock.lap("compare", compare, loop, args.methods, args.candidates)
    summary = summarize(rows)
    sweep_methods = args.sweep_methods or ["random", *filter(None, [best_method(summary)])]
    sweep, missed = clock.lap(
        "sweep", budget_sweep, loop, args.budgets, sweep_methods, args.candidates
    )
    result = {
        "command": " ".join(["python bench/closed_loop.py", *(argv or sys.argv[1:])]),
        "plan": asdict(plan),
        "teacher": teacher.replace(str(out), "OUT"),
        "student": student.name,
        "enhance": args.enhance,
        "candidates": args.candidates,
        "base": {
            "target_cer": base_scores["target"]["cer"],
            "target_wer": base_scores["target"]["wer"],
            "source_cer": base_scores["source"]["cer"],
        },
        "rows": rows,
        "sweep": sweep,
        "skipped": {**skipped, **missed},
        "seconds": clock.laps,
    }
    name = "-".join(
        ["results"]
        + (["transcribed"] if args.candidates == "transcribed" else [])
        + ([args.student] if args.student != "ctc" else [])
        + ([args.enhance] if args.enhance != "none" else [])
    )
    if sweep:
        at_plan = [{**r, "budget": plan.budget} for r in rows if r["method"] in sweep_methods]
        title = f"teacher {args.teacher}, student {args.student}, {len(plan.seeds)} seed(s)"
        plot_budgets(at_plan + sweep, out / f"{name}-budgets.png", title)
    print(write_results(out, name, result, teacher_table(loop.pool_run)), flush=True)
    print(f"closed loop: seconds {clock.laps}; results in {out}/{name}.md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
