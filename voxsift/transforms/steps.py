"""The curate steps after segmentation: one ordered table, :data:`CURATE_STEPS`.

Order: enhance → label → normalize → quality → embed. Enhancement first, so the teacher hears
the audio that will be trained on; labeling before normalization, which needs a transcript or a
pseudo-label to normalize; quality after them, so its metrics describe the audio and the text as
they leave the stage (the speaking rate needs the spoken-form text); embed last, on the final
audio and training text. A step switched off in the config is left out, and its columns stay null.

Everything else derives from this table: the steps the curate pipeline chains
(:func:`curate_steps`), the order of the per-step figures in the run summary, and the run
config's sections (a step with settings gets a section named after it). The table is imported by
the config, so its entries name their transforms lazily and this module imports no Beam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxsift.registry import Lazy, Registry
from voxsift.settings import Settings
from voxsift.transforms.kinds import OFF
from voxsift.transforms.settings import (
    EmbedSettings,
    EnhanceSettings,
    LabelSettings,
    NormalizeSettings,
    QualitySettings,
)


def _always(section: Any) -> bool:
    return True


@dataclass(frozen=True)
class CurateStepKind:
    """One curate step: the PTransform it builds, its config section, and when it runs."""

    transform: Callable[[Any], Any]
    """Its section (None without one) → a PTransform, segments → ``{"segments", "rejects"}``."""
    section: type[Settings] | None = None
    """Its settings: the run config gets a section of this type named after the step."""
    runs: Callable[[Any], bool] = _always
    """Whether the step runs under its section (e.g. not with ``enabled: false``)."""


def handler_step(handler: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A step's transform from its handler: ``CurateStep(Handler(section))``, both imported when
    the step is built. ``handler`` is a SegmentHandler class or its ``"module:Class"`` name."""
    make = Lazy(handler) if isinstance(handler, str) else handler

    def build(section: Any) -> Any:
        from voxsift.transforms.inference import CurateStep

        return CurateStep(make(section))

    return build


CURATE_STEPS: Registry[CurateStepKind] = Registry("curate step")
CURATE_STEPS.add(
    "enhance",
    CurateStepKind(
        handler_step("voxsift.transforms.enhance:EnhanceHandler"),
        EnhanceSettings,
        runs=lambda section: section.method != OFF,
    ),
)
CURATE_STEPS.add(
    "label",
    CurateStepKind(
        handler_step("voxsift.transforms.label:LabelHandler"),
        LabelSettings,
        runs=lambda section: section.teacher != OFF,
    ),
)
CURATE_STEPS.add(
    "normalize",
    CurateStepKind(
        handler_step("voxsift.transforms.normalize:NormalizeHandler"),
        NormalizeSettings,
        runs=lambda section: section.enabled,
    ),
)
CURATE_STEPS.add(
    "quality",
    CurateStepKind(
        handler_step("voxsift.transforms.quality:QualityHandler"),
        QualitySettings,
        runs=lambda section: section.enabled,
    ),
)
CURATE_STEPS.add(
    "embed",
    CurateStepKind(
        Lazy("voxsift.transforms.embed:Embed"),
        EmbedSettings,
        runs=lambda section: bool(section.kinds),
    ),
)


def sections() -> list[tuple[str, type[Settings]]]:
    """(name, settings class) of every step that has settings, in order: the config's sections."""
    return [(name, kind.section) for name, kind in CURATE_STEPS.items() if kind.section]


def curate_steps(config: Any) -> list[tuple[str, Any]]:
    """(name, PTransform) of each step that runs under ``config``, in the table's order.

    ``config`` is the run config, or anything with one attribute per step section.
    """
    steps = []
    for name, kind in CURATE_STEPS.items():
        section = _section(config, name, kind)
        if kind.runs(section):
            steps.append((name, kind.transform(section)))
    return steps


def _section(config: Any, name: str, kind: CurateStepKind) -> Any:
    if kind.section is None:
        return None
    section = getattr(config, name, None)
    if not isinstance(section, kind.section):
        raise ValueError(
            f"curate step {name!r} reads a {name!r} section ({kind.section.__name__}) that the "
            "config lacks: register the step before voxsift.config is imported"
        )
    return section
