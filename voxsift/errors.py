"""Errors that mean "this input cannot be used", each carrying a reason code for its reject row."""

from __future__ import annotations


class InputError(ValueError):
    """An input that a stage must reject, not crash on; ``reason`` is a snake_case code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
