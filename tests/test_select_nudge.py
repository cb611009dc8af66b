"""GOT-D selection on a synthesized corpus whose target condition is rare in the pool.

Curate runs once; the select stage then runs per method on the same segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import MULTI_PROCESS
from voxsift.config import RunConfig, parse_config
from voxsift.pipelines import run

TARGET_CONDITION = "telephone"


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """48 pool utterances (6 telephone, 12.5%), 6 telephone targets; curated once."""
    from voxsift.synth import synthesize

    corpus = tmp_path_factory.mktemp("nudge_corpus")
    synthesize(
        str(corpus), utterances=48, seed=7, target_utterances=6, target_share=0.125,
        target_condition=TARGET_CONDITION, labeled_fraction=0.5,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("nudge_run")
    run.run_one("curate", _config(corpus, out, "random"), [], resume=False)
    return corpus, out


def _config(corpus: Path, out: Path, method: str, **select) -> RunConfig:
    return parse_config(
        {
            "input": [str(corpus / "pool.jsonl")],
            "target": [str(corpus / "target.jsonl")],
            "output": str(out),
            "select": {"method": method, "budget_count": 6, "seed": 2, **select},
        }
    )


def _select(curated: tuple[Path, Path], method: str, beam_args=(), **select) -> dict:
    """Run the select stage alone on the curated segments; its counts."""
    corpus, out = curated
    config = _config(corpus, out, method, **select)
    return run.run_one("select", config, list(beam_args), resume=False).counts


def _pool_share(corpus: Path) -> float:
    lines = [json.loads(line) for line in (corpus / "pool.jsonl").read_text().splitlines()]
    return sum(line["condition"] == TARGET_CONDITION for line in lines) / len(lines)


def _target_share(counts: dict) -> float:
    selected = counts["diagnostics"]["composition"]["selected"]
    return selected.get(TARGET_CONDITION, 0) / sum(selected.values())


def _rows(out: Path) -> list[dict]:
    rows = pq.read_table(out / "selection").to_pylist()
    return sorted(rows, key=lambda r: r["key"])


def test_nudge_finds_the_rare_target_condition(curated):
    """Nudge picks the rare condition far beyond chance and moves the selection to the target.

    Judged against the exact odds of a random draw (hypergeometric over the ranked candidates),
    not against one random selection: segment keys hash the audio's path, which differs per test
    run, so a single random draw of 6 varies from run to run and can be lucky.
    """
    from scipy.stats import hypergeom

    corpus, _ = curated
    pool_share = _pool_share(corpus)
    assert pool_share <= 0.15
    nudged = _select(curated, "nudge")
    randomly = _select(curated, "random")
    assert nudged["selected"] == randomly["selected"] == 6
    mix = nudged["diagnostics"]["composition"]
    candidates, in_target = sum(mix["candidates"].values()), mix["candidates"][TARGET_CONDITION]
    picked = mix["selected"].get(TARGET_CONDITION, 0)
    chance = hypergeom.sf(picked - 1, candidates, in_target, nudged["selected"])
    print(f"target share: pool {pool_share:.3f}, nudge {_target_share(nudged):.3f}, "
          f"random {_target_share(randomly):.3f}; P(random >= nudge) {chance:.4f}")  # fmt: skip
    assert _target_share(nudged) >= 3 * pool_share
    assert chance < 0.05
    nudge_ot, random_ot = nudged["diagnostics"]["ot"], randomly["diagnostics"]["ot"]
    chosen, baseline = nudge_ot["target_to_selected"], random_ot["target_to_selected"]
    print(f"OT target→: nudge {chosen}, random {baseline}, pool {nudge_ot['target_to_pool']}")
    assert chosen < 0.5 * nudge_ot["target_to_pool"]


@pytest.mark.parametrize("method", ["dsir", "knn", "confidence"])
def test_baselines_run_from_the_config_with_the_same_budget(curated, method):
    counts = _select(curated, method)
    assert counts["selected"] == 6 and counts["rows"] == counts["segments"]
    assert counts["diagnostics"]["method"] == method
    rows = [r for r in _rows(curated[1]) if r["role"] == "pool" and r["rank"] is not None]
    assert sorted(r["rank"] for r in rows) == list(range(len(rows)))
    assert all(r["method"] == method and r["score"] is not None for r in rows)


def test_scored_selection_is_the_same_on_one_process_and_two(curated):
    _select(curated, "nudge", nudge={"neighbors": 4})
    single = _rows(curated[1])
    single_report = json.loads((curated[1] / "selection" / "_diagnostics.json").read_text())
    _select(curated, "nudge", MULTI_PROCESS, nudge={"neighbors": 4})
    assert _rows(curated[1]) == single
    assert json.loads((curated[1] / "selection" / "_diagnostics.json").read_text()) == single_report
    assert sum(r["selected"] for r in single) == 6


def test_label_risk_trades_target_likeness_for_label_quality(curated):
    """Ranked by u + label_risk · expected WER, nudge's selection has no worse expected labels
    than the plain ranking's; label_risk 0 keeps the raw GOT-D scores."""
    plain = _select(curated, "nudge", label_risk=0.0)
    plain_rows = [r for r in _rows(curated[1]) if r["rank"] is not None]
    aware = _select(curated, "nudge", label_risk=1.0)
    aware_rows = [r for r in _rows(curated[1]) if r["rank"] is not None]

    def quality(counts: dict) -> dict:
        return counts["diagnostics"]["calibration"]["mean_expected_wer"]

    assert quality(aware)["selected"] <= quality(plain)["selected"]
    assert quality(aware)["selected"] <= quality(aware)["candidates"]
    assert _target_share(plain) >= _target_share(aware)
    assert plain["diagnostics"]["fit"]["label_risk"] is None
    assert aware["diagnostics"]["fit"]["label_risk"] == 1.0
    assert all(r["expected_wer"] is not None for r in plain_rows + aware_rows)
    assert all(0.0 <= r["score"] <= 2.0 for r in aware_rows)
    for rows in (plain_rows, aware_rows):  # the score is what ranked
        scores = [r["score"] for r in sorted(rows, key=lambda r: r["rank"])]
        assert scores == sorted(scores)
