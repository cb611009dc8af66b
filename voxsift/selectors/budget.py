"""Rank-ordered candidates → the ones that fit the budget (hours or count), deterministically."""

from __future__ import annotations

from collections.abc import Sequence


def within_budget(
    durations: Sequence[float], budget_hours: float | None, budget_count: int | None
) -> list[bool]:
    """Walk candidates in rank order and take each that still fits.

    With an hours budget, a long candidate that no longer fits is passed over and shorter later
    ones may still fill the remainder; with no budget, everything is taken.
    """
    limit_seconds = budget_hours * 3600 if budget_hours is not None else float("inf")
    limit_count = budget_count if budget_count is not None else len(durations)
    taken, used, chosen = 0, 0.0, []
    for duration in durations:
        fits = taken < limit_count and used + duration <= limit_seconds
        if fits:
            taken, used = taken + 1, used + duration
        chosen.append(fits)
    return chosen
