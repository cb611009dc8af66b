"""Hard filters applied before ranking: each returns the reason a candidate is dropped, or None.

A filtered segment still gets a selection row (``selected=False``, ``reason=filtered_<why>``) so
every segment of the run is accounted for in ``selection/``.
"""

from __future__ import annotations

import json
from typing import Any

from voxsift.schema import training_text
from voxsift.selectors.confidence import confidence_reason
from voxsift.selectors.settings import SelectSettings
from voxsift.selectors.teacher_filters import teacher_reason


def field_value(row: dict[str, Any], name: str) -> Any:
    """A segment column, or else a field carried from the manifest."""
    if name in row:
        return row[name]
    return json.loads(row.get("metadata") or "{}").get(name)


def filter_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    """Why this pool segment cannot be a candidate, or None when it can."""
    if row["duration"] < settings.min_duration:
        return "filtered_too_short"
    if settings.max_duration is not None and row["duration"] > settings.max_duration:
        return "filtered_too_long"
    if settings.require_text and training_text(row) is None:
        return "filtered_no_text"
    for name, allowed in sorted(settings.where.items()):
        if field_value(row, name) not in allowed:
            return f"filtered_where_{name}"
    if settings.ranking.needs_target and row.get("embedding") is None:
        return "filtered_no_embedding"
    return confidence_reason(row, settings) or teacher_reason(row, settings)
