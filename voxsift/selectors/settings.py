"""Settings of the select stage: filters, weights, dedup, the ranking method and its parameters.

Distances are squared Euclidean on the embeddings of ``embed`` (unit norm, so within [0, 4]).
``method`` is a name registered in :data:`~voxsift.selectors.ranking.METHODS`, and each method
with parameters contributes its own section (``select.nudge``, ``select.dsir``, ``select.knn``).

Label-aware ranking (label_risk.py): a method that ranks against the target turns its raw score
into its quantile u in the pool and ranks by ``u + label_risk · expected_wer``, the expected WER
of the candidate's training text from the calibrated teacher confidence (``select.calibration``);
``label_risk: 0`` keeps the method's own order and scores.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from voxsift.selectors.options import (
    CalibrationSettings,
    DsirSettings,
    KnnSettings,
    NudgeSettings,
)
from voxsift.selectors.ranking import METHODS, Method
from voxsift.settings import sections

__all__ = [
    "METHODS",
    "CalibrationSettings",
    "DsirSettings",
    "KnnSettings",
    "NudgeSettings",
    "SelectSettings",
]

MethodSections = sections(
    "MethodSections",
    [(name, method.section) for name, method in METHODS.items() if method.section],
    __name__,
)
"""One section per registered method that has parameters (``select.nudge`` ...), from METHODS."""


def _method_help() -> str:
    return f"How candidates are ranked (lowest score first): {', '.join(METHODS.names())}."


class SelectSettings(MethodSections):
    method: str = Field("nudge", description=_method_help())
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
    max_ngram_repeats: int | None = Field(
        None, gt=0, description="Filter a pseudo-label with more back-to-back copies of a phrase."
    )
    max_compression_ratio: float | None = Field(
        None, gt=0, description="Filter a more compressible pseudo-label (Whisper's own: 2.4)."
    )
    max_no_speech_prob: float | None = Field(
        None, ge=0, le=1, description="Filter text emitted above this no-speech probability (0.6)."
    )
    min_avg_logprob: float | None = Field(
        None, le=0, description="Filter a lower average token log-probability (Whisper's: -1.0)."
    )
    languages: list[str] = Field(
        default_factory=list,
        description="Keep only these languages (detected, else the manifest's); empty: all.",
    )
    min_language_probability: float | None = Field(
        None, ge=0, le=1, description="Filter a detected language the teacher is less sure of."
    )
    weighting: Literal["confidence", "calibrated", "none"] = Field(
        "confidence",
        description="Per-sample loss weight: confidence: floor + (1-floor)*confidence**power; "
        "calibrated: floor + (1-floor)*(1-expected_wer)**power (1 for reference transcripts); "
        "none: 1.",
    )
    weight_floor: float = Field(0.1, ge=0, le=1, description="Weight at confidence (accuracy) 0.")
    weight_power: float = Field(1.0, gt=0, description="The power of the weight formula.")
    label_risk: float = Field(
        1.0,
        ge=0,
        description="nudge, knn, dsir: rank by u + label_risk*expected_wer, u the raw score's "
        "quantile in the pool sample (lower first); 0: the method's own ranking.",
    )
    max_expected_wer: float | None = Field(
        None, ge=0, le=1, description="Filter a candidate whose text's expected WER is above."
    )
    calibration: CalibrationSettings = CalibrationSettings()
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
    diagnostics_field: str | None = Field(
        "condition", description="Column or manifest field to report the composition by."
    )
    diagnostics_sample: int = Field(
        1000, gt=1, description="Samples per side for the OT diagnostics."
    )
    threads: int = Field(
        1, gt=0, description="Math threads per worker; fixed so scores do not depend on layout."
    )

    @field_validator("method")
    @classmethod
    def _registered(cls, value: str) -> str:
        return METHODS.check(value)

    @model_validator(mode="after")
    def _consistent(self) -> SelectSettings:
        if self.budget_hours is not None and self.budget_count is not None:
            raise ValueError("set budget_hours or budget_count, not both")
        low, high = self.min_chars_per_second, self.max_chars_per_second
        if low is not None and high is not None and low >= high:
            raise ValueError("min_chars_per_second must be below max_chars_per_second")
        return self

    @property
    def ranking(self) -> Method:
        """The registered method ``method`` names."""
        return METHODS.get(self.method)
