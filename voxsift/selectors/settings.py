"""Settings of the select stage: filters, ranking method, budget."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SelectSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["random"] = Field("random", description="How candidates are ranked.")
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

    @model_validator(mode="after")
    def _one_budget(self) -> SelectSettings:
        if self.budget_hours is not None and self.budget_count is not None:
            raise ValueError("set budget_hours or budget_count, not both")
        return self
