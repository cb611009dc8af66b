"""Calibrated confidence, label-aware ranking and calibrated weights: units, then a real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import corpus_config
from voxsift.config import ConfigError, parse_config
from voxsift.pipelines import run
from voxsift.pipelines.select import ScoreCell, choose
from voxsift.selectors import calibration, label_risk
from voxsift.selectors.calibration import text_source
from voxsift.selectors.candidates import Candidate
from voxsift.selectors.confidence import calibrated_weight, final_weight
from voxsift.selectors.methods import fit_reference
from voxsift.selectors.options import CalibrationSettings
from voxsift.selectors.settings import SelectSettings


def _pairs(confidences, wers) -> list[tuple[str, float, float]]:
    pairs = zip(confidences, wers, strict=True)
    return [(f"k{i:03d}", float(c), float(w)) for i, (c, w) in enumerate(pairs)]


def test_isotonic_fit_is_monotone_and_matches_a_toy_case():
    # 0.7 then 0.8 violates "non-increasing": pooled to 0.75; a WER of 1.5 is clipped to 1
    pairs = _pairs([0.4, 0.1, 0.3, 0.2, 0.05], [0.1, 0.9, 0.8, 0.7, 1.5])
    fitted = calibration.fit(pairs, CalibrationSettings(min_segments=5), seed=0)
    assert fitted.method == "isotonic" and fitted.segments == 5 and fitted.reason is None
    np.testing.assert_allclose(
        fitted.predict([0.05, 0.1, 0.2, 0.3, 0.4]), [1.0, 0.9, 0.75, 0.75, 0.1]
    )
    np.testing.assert_allclose(fitted.predict([0.0, 0.35, 0.99]), [1.0, 0.425, 0.1])
    grid = fitted.predict(np.linspace(0, 1, 201))
    assert np.all(np.diff(grid) <= 0)
    assert fitted.spearman is not None and fitted.spearman < -0.8
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.8, 0.96, 400)
    noisy = calibration.fit(
        _pairs(confidence, 6 * (0.96 - confidence) + rng.normal(0, 0.1, 400)),
        CalibrationSettings(),
        seed=0,
    )
    assert np.all(np.diff(noisy.predict(np.linspace(0, 1, 201))) <= 0)
    assert noisy.held_out["mae"] < noisy.held_out["mae_of_mean"]
    assert noisy.report()["curve"]["confidence"] == sorted(noisy.report()["curve"]["confidence"])


def test_binned_fit_pools_bins_that_break_monotony():
    settings = CalibrationSettings(method="binned", min_segments=4, bins=3, min_per_bin=2)
    pairs = _pairs([0.1, 0.15, 0.5, 0.55, 0.8, 0.85], [0.6, 0.6, 0.8, 0.8, 0.2, 0.2])
    fitted = calibration.fit(pairs, settings, seed=0)
    assert fitted.method == "binned"
    np.testing.assert_allclose(fitted.confidence, [0.125, 0.525, 0.825])
    np.testing.assert_allclose(fitted.expected, [0.7, 0.7, 0.2])


def test_too_few_transcribed_segments_fall_back_with_the_reason():
    pairs = _pairs(np.linspace(0.5, 0.9, 12), np.linspace(0.5, 0.1, 12))
    fitted = calibration.fit(pairs, CalibrationSettings(min_segments=30), seed=0)
    assert fitted.method == "fallback"
    assert fitted.reason == "12 segments with a label WER < min_segments 30"
    np.testing.assert_allclose(fitted.predict([0.0, 0.8, 1.0]), [1.0, 0.2, 0.0])
    report = fitted.report()
    assert report["method"] == "fallback" and report["segments"] == 12
    assert report["reason"] == fitted.reason and report["mean_label_wer"] == pytest.approx(0.3)
    assert calibration.fit([], CalibrationSettings(), seed=0).reason.startswith("0 segments")


def test_reference_transcripts_are_error_free_and_weigh_one():
    assert text_source({"text": "a reference", "pseudo_text": "a guess"}) == "reference"
    assert text_source({"text": " ", "pseudo_text": "a guess"}) == "pseudo_label"
    assert text_source({"text": None, "pseudo_text": ""}) is None
    fitted = calibration.fit([], CalibrationSettings(), seed=0)
    settings = SelectSettings(weighting="calibrated")
    reference = Candidate("r", 1.0, confidence=0.2, text_source="reference", has_text=True)
    pseudo = Candidate("p", 1.0, confidence=0.7, text_source="pseudo_label", has_text=True)
    silent = Candidate("s", 1.0, confidence=0.7)
    assert fitted.expected_wer(reference) == 0.0
    assert fitted.expected_wer(pseudo) == pytest.approx(0.3)
    assert fitted.expected_wer(silent) is None
    assert final_weight(0.5, 0.0, settings) == 1.0
    assert final_weight(0.5, None, settings) == 1.0
    assert final_weight(0.5, 0.3, SelectSettings()) == 0.5  # confidence weighting: phase one's
    assert fitted.with_fill([reference, pseudo, silent]).fill == pytest.approx(0.15)


def test_weights_rise_with_calibrated_accuracy():
    for settings in (
        SelectSettings(weighting="calibrated"),
        SelectSettings(weighting="calibrated", weight_floor=0.0, weight_power=2.0),
    ):
        weights = [calibrated_weight(e, settings) for e in np.linspace(1, 0, 101)]
        assert all(b >= a for a, b in zip(weights, weights[1:], strict=False))
        assert weights[0] == settings.weight_floor and weights[-1] == 1.0


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _near_and_far(settings: SelectSettings) -> tuple[list[dict], list[dict]]:
    """Two candidates by a target cloud, the nearer one with a bad pseudo-label, the other
    a little farther with its reference transcript; scored and ranked by the select stage."""
    rng = np.random.default_rng(3)
    axis = np.eye(8)
    targets = [
        Candidate(f"t{i}", 1.0, embedding=v)
        for i, v in enumerate(_unit(axis[1] + 0.05 * rng.standard_normal((20, 8))))
    ]
    spread = _unit(rng.standard_normal((200, 8)) + 0.8 * axis[1])
    sample = [Candidate(f"s{i:03d}", 1.0, embedding=v) for i, v in enumerate(spread)]
    pairs = _pairs(np.linspace(0.3, 0.95, 40), np.linspace(0.9, 0.05, 40))
    reference = fit_reference(targets, [], sample, settings, pairs)
    near, far = _unit(np.stack([axis[1] + 0.02 * axis[2], axis[1] + 0.1 * axis[2]]))
    members = [
        Candidate("near", 1.0, confidence=0.35, has_text=True, text_source="pseudo_label",
                  embedding=near),
        Candidate("far", 1.0, confidence=None, has_text=True, text_source="reference",
                  embedding=far),
    ]  # fmt: skip
    out = list(ScoreCell(settings).process((0, members), reference))
    scored = [r for r in out if isinstance(r, dict)]
    decided = [r.value for r in out if not isinstance(r, dict)]
    return list(choose(scored, settings))[:-1], decided


@pytest.mark.parametrize("method", ["knn", "nudge"])
def test_a_bad_label_loses_to_a_near_good_one_only_under_label_risk(method):
    risky = SelectSettings(method=method, label_risk=1.0, budget_count=1)
    rows, _ = _near_and_far(risky)
    assert [r["key"] for r in rows] == ["far", "near"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["far"]["expected_wer"] == 0.0 and by_key["near"]["expected_wer"] > 0.5
    assert by_key["far"]["selected"] and not by_key["near"]["selected"]
    # the score is the ranking key: a pool quantile in [0, 1] plus label_risk · expected WER
    assert 0.0 <= by_key["far"]["score"] <= 1.0
    assert by_key["near"]["score"] - by_key["near"]["expected_wer"] == pytest.approx(
        by_key["far"]["score"], abs=0.05
    )
    plain, _ = _near_and_far(SelectSettings(method=method, label_risk=0.0, budget_count=1))
    assert [r["key"] for r in plain] == ["near", "far"] and plain[0]["selected"]
    assert plain[0]["score"] < plain[1]["score"]


def test_the_pool_quantile_is_the_empirical_cdf():
    pool = np.sort(np.array([3.0, 1.0, 2.0, 4.0]))
    np.testing.assert_allclose(
        label_risk.quantiles(pool, np.array([0.0, 1.0, 2.5, 4.0, 9.0])),
        [0.125, 0.125, 0.5, 0.875, 0.875],
    )


def test_expected_wer_above_the_limit_is_filtered_with_its_reason():
    settings = SelectSettings(method="knn", max_expected_wer=0.5, weighting="calibrated")
    rows, decided = _near_and_far(settings)
    assert [r["key"] for r in rows] == ["far"] and rows[0]["weight"] == 1.0
    (dropped,) = decided
    assert dropped["key"] == "near" and dropped["reason"] == "filtered_expected_wer"
    assert dropped["expected_wer"] > 0.5 and 0.1 < dropped["weight"] < 0.5


@pytest.mark.parametrize(
    ("select", "field"),
    [
        ({"label_risk": -1.0}, "select.label_risk"),
        ({"weighting": "calibrate"}, "select.weighting"),
        ({"max_expected_wer": 1.5}, "select.max_expected_wer"),
        ({"calibration": {"min_segments": 0}}, "select.calibration.min_segments"),
        ({"calibration": {"method": "linear"}}, "select.calibration.method"),
        ({"calibration": {"bins": 4, "typo": 1}}, "select.calibration.typo"),
    ],
)
def test_bad_label_settings_are_refused_naming_the_field(select, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config({"input": ["p.jsonl"], "target": ["t.jsonl"], "output": "o",
                      "select": select})  # fmt: skip


def test_calibrated_weighting_end_to_end(corpus: Path, tmp_path: Path):
    """Relabeled transcripts calibrate the teacher; the selection carries expected WERs and the
    calibrated weights, _diagnostics.json and run.json the fitted curve."""
    select = {"method": "nudge", "budget_count": 10, "seed": 1, "weighting": "calibrated",
              "calibration": {"min_segments": 5}}  # fmt: skip
    config = corpus_config(
        corpus, tmp_path / "out", label={"relabel_transcribed": True}, select=select
    )
    record = run.run_all(config, [], resume=False)
    out = Path(config.output)
    segments = pq.read_table(
        out / "segments", columns=["key", "role", "text", "confidence", "label_wer"]
    ).to_pylist()
    transcribed = [s for s in segments if s["label_wer"] is not None]
    assert len(transcribed) >= 5 and any(s["role"] == "target" for s in transcribed)
    rows = {r["key"]: r for r in pq.read_table(out / "selection").to_pylist()}
    candidates = [rows[s["key"]] for s in segments if rows[s["key"]]["rank"] is not None]
    assert candidates and all(r["expected_wer"] is not None for r in candidates)
    for segment in segments:
        row = rows[segment["key"]]
        if row["rank"] is not None and segment["text"]:
            assert row["expected_wer"] == 0.0 and row["weight"] == 1.0
    pseudo = [
        rows[s["key"]] for s in segments if not s["text"] and rows[s["key"]]["rank"] is not None
    ]
    assert pseudo and all(0.0 <= r["expected_wer"] <= 1.0 for r in pseudo)
    order = sorted(pseudo, key=lambda r: r["expected_wer"])
    assert all(a["weight"] >= b["weight"] for a, b in zip(order, order[1:], strict=False))
    written = json.loads((out / "selection" / "_diagnostics.json").read_text())["calibration"]
    assert written["method"] == "isotonic" and written["segments"] == len(transcribed)
    assert written["curve"]["confidence"] and written["mean_expected_wer"]["selected"] is not None
    stored = json.loads((out / "run.json").read_text())["stages"]["select"]["counts"]
    assert stored["diagnostics"]["calibration"] == written
    assert record["stages"]["select"]["counts"]["diagnostics"]["fit"]["label_risk"] == 1.0
