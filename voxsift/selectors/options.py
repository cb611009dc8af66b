"""The parameters of the built-in ranking methods: the ``select.nudge``, ``select.dsir`` and
``select.knn`` sections, and ``select.calibration`` (calibration.py). Each method declares its own
(``Method.section`` in ranking.py); they live here, below both the methods and the algorithms
(nudge.py, calibration.py) that read them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxsift.settings import Settings


class NudgeSettings(Settings):
    """GOT-D: entropic OT between the target and a pool sample; defaults from the paper."""

    epsilon: float = Field(0.1, gt=0, description="Entropic regularization, in cost units.")
    tolerance: float = Field(0.1, gt=0, description="Sinkhorn stops at this L1 marginal error.")
    max_iterations: int = Field(2000, gt=0, description="Sinkhorn iterations at most.")
    momentum: float = Field(1.3, ge=1, lt=2, description="Over-relaxation of Sinkhorn updates.")
    pool_sample: int = Field(5000, gt=0, description="Pool samples the target potential is fit on.")
    neighbors: int | None = Field(
        None, gt=0, description="Score over only this many nearest targets (FAISS); None: all."
    )


class DsirSettings(Settings):
    smoothing: float = Field(1.0, gt=0, description="Added to every cell count of pool and target.")


class KnnSettings(Settings):
    neighbors: int = Field(1, gt=0, description="Score is the mean distance to this many targets.")


class CalibrationSettings(Settings):
    """How the teacher's confidence is mapped to an expected label WER (calibration.py)."""

    method: Literal["isotonic", "binned"] = Field(
        "isotonic",
        description="isotonic: non-increasing isotonic regression of label WER on confidence; "
        "binned: the mean label WER of equal-count confidence bins, made non-increasing.",
    )
    min_segments: int = Field(
        30,
        gt=0,
        description="Segments with a confidence and a label WER needed to fit; with fewer, "
        "expected WER = 1 - confidence (recorded as method 'fallback' with the reason).",
    )
    bins: int = Field(10, gt=0, description="binned: confidence bins at most.")
    min_per_bin: int = Field(10, gt=0, description="binned: segments per bin at least.")
