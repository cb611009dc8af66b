"""The one base class of every config section, and the field types sections share.

Unknown keys are refused, values frozen and strict. Strict means a value must already have its
field's type: YAML's ``true`` is not the number 1 (``budget_count: true`` is refused, not read as
one utterance), ``1`` is not a boolean, and ``2.5`` is not an integer. Whole numbers are still
accepted where a float is expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*$", re.IGNORECASE)


class Settings(BaseModel):
    """A config section: refuses unknown keys and values of the wrong type; never mutated."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def sections(name: str, kinds: Iterable[tuple[str, type[Settings]]], module: str) -> type[Settings]:
    """A settings class with one section per kind, named after the kind, defaulting to the
    section's defaults: how config sections derive from a registry (the curate steps' sections of
    the run config, the selector methods' sections of ``select``)."""
    fields: dict[str, Any] = {kind: (section, section()) for kind, section in kinds}
    return create_model(name, __base__=Settings, __module__=module, **fields)


def parse_size(value: Any) -> int:
    """Bytes from an int or a string such as "256MB", "1.5 GB" or "512KiB"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = _SIZE.match(str(value))
    if not found:
        raise ValueError(f"{value!r} is not a size; write bytes or a number with KB, MB, GB or TB")
    number, unit = float(found.group(1)), found.group(2).upper()
    base = 1024 if "I" in unit else 1000
    power = "KMGT".find(unit[:1]) + 1 if unit[:1] in "KMGT" and unit else 0
    return int(number * base**power)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
"""A byte count, written as an int or a string such as "256MB"."""
PathList = Annotated[list[str], BeforeValidator(_as_list)]
"""A list of paths; a single string is a list of one."""
