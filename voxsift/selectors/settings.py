"""Settings of the select stage: filters, weights, dedup, the ranking method and its parameters.

Distances are squared Euclidean on the embeddings of ``embed`` (unit norm, so within [0, 4]).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from voxsift.settings import Settings

METHODS_NEEDING_TARGET = frozenset({"nudge", "dsir", "knn"})
"""Methods that rank candidates against the target set's embeddings."""


class _Section(Settings):
    """A section of this stage's settings (voxsift's one settings base)."""


class NudgeSettings(_Section):
    """GOT-D: entropic OT between the target and a pool sample; defaults from the paper."""

    epsilon: float = Field(0.1, gt=0, description="Entropic regularization, in cost units.")
    tolerance: float = Field(0.1, gt=0, description="Sinkhorn stops at this L1 marginal error.")
    max_iterations: int = Field(2000, gt=0, description="Sinkhorn iterations at most.")
    momentum: float = Field(1.3, ge=1, lt=2, description="Over-relaxation of Sinkhorn updates.")
    pool_sample: int = Field(5000, gt=0, description="Pool samples the target potential is fit on.")
    neighbors: int | None = Field(
        None, gt=0, description="Score over only this many nearest targets (FAISS); None: all."
    )


class DsirSettings(_Section):
    smoothing: float = Field(1.0, gt=0, description="Added to every cell count of pool and target.")


class KnnSettings(_Section):
    neighbors: int = Field(1, gt=0, description="Score is the mean distance to this many targets.")


class SelectSettings(_Section):
    method: Literal["nudge", "random", "dsir", "knn", "confidence"] = Field(
        "nudge", description="How candidates are ranked (lowest score first)."
    )
    budget_hours: float | None = Field(None, gt=0, description="Stop at this much audio.")
    budget_count: int | None = Field(None, gt=0, description="Stop at this many segments.")
    seed: int = Field(0, description="Seeds every random choice of the stage.")
    min_duration: float = Field(0.0, ge=0, description="Candidates shorter are filtered.")
    max_duration: float | None = Field(None, gt=0, description="Candidates longer are filtered.")
    require_text: bool = Field(False, description="Filter candidates with no transcript at all.")
    include_target: bool = Field(False, description="Also put the target set in the shards.")
    where: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict,
        description="Keep candidates whose column or manifest field has one of these values.",
    )
    min_confidence: float | None = Field(None, ge=0, le=1, description="Teacher confidence floor.")
    max_label_wer: float | None = Field(
        None, ge=0, description="Filter when WER(reference, pseudo-label) is above, e.g. 0.1."
    )
    min_chars_per_second: float | None = Field(None, ge=0, description="Too slow: filtered.")
    max_chars_per_second: float | None = Field(None, gt=0, description="Too fast: filtered.")
    min_snr_db: float | None = Field(None, description="Estimated SNR floor.")
    weighting: Literal["confidence", "none"] = Field(
        "confidence", description="Per-sample loss weight from the teacher confidence, or 1."
    )
    weight_floor: float = Field(0.1, ge=0, le=1, description="Weight at confidence 0.")
    weight_power: float = Field(1.0, gt=0, description="Weight = floor + (1-floor)*conf**power.")
    dedup: bool = Field(True, description="Drop near-duplicates among the candidates.")
    decontaminate: bool = Field(True, description="Drop candidates that copy target/eval samples.")
    decontaminate_with: list[str] = Field(
        default_factory=list, description="segments/*.parquet globs of evaluation sets."
    )
    duplicate_distance: float = Field(
        0.001, ge=0, description="Squared distance at or below which two samples are copies."
    )
    cells: int = Field(
        64, gt=0, description="k-means cells: DSIR's weights, and where copies are searched."
    )
    nudge: NudgeSettings = NudgeSettings()
    dsir: DsirSettings = DsirSettings()
    knn: KnnSettings = KnnSettings()
    diagnostics_field: str | None = Field(
        "condition", description="Column or manifest field to report the composition by."
    )
    diagnostics_sample: int = Field(
        1000, gt=1, description="Samples per side for the OT diagnostics."
    )
    threads: int = Field(
        1, gt=0, description="Math threads per worker; fixed so scores do not depend on layout."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SelectSettings:
        if self.budget_hours is not None and self.budget_count is not None:
            raise ValueError("set budget_hours or budget_count, not both")
        low, high = self.min_chars_per_second, self.max_chars_per_second
        if low is not None and high is not None and low >= high:
            raise ValueError("min_chars_per_second must be below max_chars_per_second")
        return self
