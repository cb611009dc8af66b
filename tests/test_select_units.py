"""Selection building blocks on small arrays: OT, GOT-D scores, FAISS, DSIR, weights, filters."""

from __future__ import annotations

import numpy as np
import pytest

from voxsift.config import ConfigError, parse_config
from voxsift.pipelines.select import Judge
from voxsift.progress import ProgressSink
from voxsift.selectors import dsir, index, nudge, sinkhorn
from voxsift.selectors.confidence import confidence_reason, weight
from voxsift.selectors.dedup import near_duplicates
from voxsift.selectors.settings import NudgeSettings, SelectSettings


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _clouds(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pool mostly around A with a few points near B, and a target set at B."""
    rng = np.random.default_rng(seed)
    a, b = np.eye(8)[0], np.eye(8)[1]
    pool = np.concatenate(
        [a + 0.2 * rng.standard_normal((90, 8)), b + 0.2 * rng.standard_normal((10, 8))]
    )
    target = b + 0.2 * rng.standard_normal((30, 8))
    labels = np.array([0] * 90 + [1] * 10)
    return _unit(pool), _unit(target), labels


def test_sinkhorn_converges_and_divergence_vanishes_on_equal_clouds():
    pool, target, _ = _clouds()
    solved = sinkhorn.solve(
        target, pool, eps=0.1, tolerance=1e-6, max_iterations=2000, momentum=1.3
    )
    assert solved.error < 1e-6 and solved.iterations < 2000
    assert abs(sinkhorn.divergence(pool, pool[::-1], 0.1, 1e-6, 2000)) < 1e-9
    assert sinkhorn.divergence(target, pool, 0.1, 1e-6, 2000) > 0.1


def test_nudge_ranks_the_under_represented_target_region_first():
    pool, target, labels = _clouds()
    model = nudge.fit(target, pool, NudgeSettings())
    scores = nudge.scores(model, pool)
    assert set(labels[np.argsort(scores)[:10]]) == {1}
    full = nudge.NudgeModel(**{**model.__dict__, "neighbors": len(target)})
    near = nudge.scores(full, pool, index.VectorIndex(target))
    np.testing.assert_allclose(near, scores, atol=1e-4)


def test_approximate_index_returns_exact_distances(monkeypatch):
    rng = np.random.default_rng(1)
    vectors = _unit(rng.standard_normal((3000, 16)))
    queries = vectors[:50] + 0.01
    monkeypatch.setattr(index, "FLAT_MAX", 500)
    approximate = index.VectorIndex(vectors)
    assert approximate.kind.startswith("IVF") and ",PQ" in approximate.kind
    distances, ids = approximate.search(queries, 3)
    expected = ((queries[:, None, :] - vectors[ids]) ** 2).sum(-1)
    np.testing.assert_allclose(distances, expected, rtol=1e-5, atol=1e-7)
    assert (ids[:, 0] == np.arange(50)).mean() > 0.9
    assert index.index_factory_string(10, 16) == "Flat"


def test_dsir_weights_favor_target_cells_and_draws_are_reproducible():
    weights = dsir.log_weights([1, 1, 1, 0], [0, 0, 0, 0, 0, 1], cells=2, smoothing=1.0)
    assert weights[1] > 0 > weights[0]
    assert dsir.gumbel(3, "k") == dsir.gumbel(3, "k") != dsir.gumbel(4, "k")


def test_exact_and_near_copies_lose_to_the_first_in_order():
    base = _unit(np.random.default_rng(2).standard_normal((3, 8)))
    rows = np.stack([base[0], base[0], base[0] + 1e-3, base[1], base[2]])
    matched = near_duplicates(_unit(rows), ["a", "b", "c", "d", "e"], threshold=1e-3)
    assert matched == [None, "a", "a", None, None]


def test_higher_confidence_never_gets_a_lower_weight():
    for settings in (SelectSettings(), SelectSettings(weight_floor=0.0, weight_power=2.5)):
        weights = [weight(c, settings) for c in np.linspace(0, 1, 101)]
        assert all(b >= a for a, b in zip(weights, weights[1:], strict=False))
        assert weights[-1] == 1.0 and weight(None, settings) == 1.0
    assert weight(0.3, SelectSettings(weighting="none")) == 1.0
    assert weight(0.3, SelectSettings(weighting="calibrated")) == 1.0  # set once calibrated


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("confidence", 0.2, "filtered_low_confidence"),
        ("label_wer", 0.5, "filtered_label_wer"),
        ("chars_per_second", 2.0, "filtered_too_slow"),
        ("chars_per_second", 40.0, "filtered_too_fast"),
        ("snr_est_db", 1.0, "filtered_low_snr"),
    ],
)
def test_filters_record_their_reasons(column, value, reason):
    settings = SelectSettings(
        method="random", min_confidence=0.5, max_label_wer=0.1, min_chars_per_second=5,
        max_chars_per_second=25, min_snr_db=5,
    )  # fmt: skip
    assert confidence_reason({column: None}, settings) is None
    assert confidence_reason({column: value}, settings) == reason
    row = {"key": "k", "role": "pool", "duration": 2.0, "metadata": "{}", column: value}
    (decided,) = list(Judge(settings, ProgressSink()).process(row))
    assert decided.value["reason"] == reason and not decided.value["selected"]


def test_methods_that_need_a_target_refuse_a_config_without_one():
    with pytest.raises(ConfigError) as caught:
        parse_config({"input": ["pool.jsonl"], "output": "out"})
    assert "select" in str(caught.value) and "`target` is empty" in str(caught.value)
    assert "select.method: random" in str(caught.value)
    assert parse_config({"input": ["p.jsonl"], "output": "o", "select": {"method": "random"}})
    with pytest.raises(ConfigError, match="embed.kinds is empty"):
        parse_config({"input": ["p"], "target": ["t"], "output": "o", "embed": {"kinds": []}})


def test_every_segment_with_a_label_wer_calibrates_filtered_or_not():
    settings = SelectSettings(method="random", max_label_wer=0.1)
    row = {"key": "k", "role": "pool", "duration": 2.0, "metadata": "{}", "confidence": 0.9,
           "label_wer": 0.5, "text": "a reference", "pseudo_text": "a guess"}  # fmt: skip
    pair, decided = list(Judge(settings, ProgressSink()).process(row))
    assert pair.tag == "pairs" and pair.value == ("k", 0.9, 0.5)
    assert decided.value["reason"] == "filtered_label_wer"
    target = {**row, "role": "target"}
    outputs = list(Judge(settings, ProgressSink()).process(target))
    assert [o.tag for o in outputs] == ["pairs", "decided", "targets"]
    assert outputs[-1].value.text_source == "reference"
