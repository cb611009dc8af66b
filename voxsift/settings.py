"""The one base class of every config section: unknown keys refused, values frozen and strict.

Strict means a value must already have its field's type: YAML's ``true`` is not the number 1
(``budget_count: true`` is refused, not read as one utterance), ``1`` is not a boolean, and
``2.5`` is not an integer. Whole numbers are still accepted where a float is expected.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """A config section: refuses unknown keys and values of the wrong type; never mutated."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
