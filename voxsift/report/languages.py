"""The report's language section: hours of audio by the language the teacher detected.

A multilingual teacher with ``label.language: null`` (``faster-whisper:base``) detects the language
of each segment; the section tallies pool, target and selected hours by that language. Segments
without a detection count under the manifest's ``language`` when it has one.
"""

from __future__ import annotations

import numpy as np

from voxsift.report import data, plots
from voxsift.report.html import Section, absent, image, table
from voxsift.report.sections import NO_SEGMENTS

NOT_KNOWN = "(unknown)"


def segment_languages(rows) -> tuple[np.ndarray, np.ndarray]:
    """(language of each row, whether the teacher detected it rather than the manifest)."""
    detected = rows["detected_language"].to_pylist()
    given = rows["language"].to_pylist()
    languages = [d or g or NOT_KNOWN for d, g in zip(detected, given, strict=True)]
    return np.asarray(languages, dtype=object), np.asarray([d is not None for d in detected])


def languages(run: data.RunData) -> Section:
    title = "Hours by language"
    if run.rows is None:
        return Section("languages", title, absent(NO_SEGMENTS))
    language, detected = segment_languages(run.rows)
    if not detected.any():
        message = (
            "No language was detected: the teacher's language was fixed (label.language) or it "
            "is English-only; set label.language: null with a multilingual teacher."
        )
        return Section("languages", title, absent(message))
    seconds = data.numbers(run.rows, "duration")
    masks = data.role_masks(run.rows)
    names = sorted(set(language), key=lambda name: (-seconds[language == name].sum(), name))
    hours = {
        group: np.array([seconds[mask & (language == name)].sum() / 3600 for name in names])
        for group, mask in masks.items()
    }
    rows = [
        [name, int(detected[language == name].sum()), *(float(h[i]) for h in hours.values())]
        for i, name in enumerate(names)
    ]
    body = [
        table(["language", "segments detected", *(f"{g} hours" for g in hours)], rows),
        image(plots.bars(names, hours, "hours"), "hours by language"),
    ]
    return Section("languages", title, "\n".join(body))
