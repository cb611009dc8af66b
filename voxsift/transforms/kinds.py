"""The model kinds a config string names: teachers, enhancers and embedders, each a registry.

A config string is ``KIND`` or ``KIND:ARGUMENT``: ``pocketsphinx``, ``ctc:/runs/base``,
``whisper:openai/whisper-small``, ``demucs:htdemucs@/models/demucs``, ``whisper-encoder:NAME``.
The text before the first colon picks a :class:`ModelKind` of the field's registry; the rest is
the model's name or path (and ``@REPO_DIR`` where the kind takes one). Strings are parsed when the
config is read, so an unknown kind is refused then, listing the forms the field accepts. Each
kind's loader is a :class:`~voxsift.registry.Lazy` reference, imported on the worker that loads
the model: this module imports nothing heavy.

Loaders are called as ``TEACHERS``: ``load(spec, label_settings) -> Teacher``; ``ENHANCERS``:
``load(spec, enhance_settings) -> Enhancer``; ``EMBEDDERS``: ``load(embed_settings, scale, label,
name) -> a SegmentHandler`` producing one block of the embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxsift.registry import Lazy, Registry

OFF = "none"
"""The value that switches a model step off (``enhance.method``, ``label.teacher``)."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model string: the family, the model name or path, and an optional local repo."""

    kind: str
    name: str = ""
    repo: str | None = None

    @property
    def label(self) -> str:
        """``KIND`` or ``KIND:NAME`` (no repo folder): what a segment records it was made by."""
        return f"{self.kind}:{self.name}" if self.name else self.kind


@dataclass(frozen=True)
class ModelKind:
    """One model family: its loader, and the argument its config string takes, if any."""

    load: Callable[..., Any]
    argument: str | None = None
    """What follows ``KIND:`` (``NAME_OR_PATH``, ``PATH``); None: the kind takes nothing."""
    repo: bool = False
    """``KIND:NAME@REPO_DIR`` is accepted too."""
    hint: str = ""
    """Shown after the form, e.g. ``e.g. 'whisper:openai/whisper-small'``."""
    check: Callable[[str], Any] | None = None
    """Called with the argument when the config is read: a ValueError refuses a model that
    cannot resolve (``faster-whisper:NAME`` whose package is missing) before any work."""

    def form(self, kind: str) -> str:
        if self.argument is None:
            return repr(kind)
        text = f"'{kind}:{self.argument}{'[@REPO_DIR]' if self.repo else ''}'"
        return f"{text} ({self.hint})" if self.hint else text


TEACHERS: Registry[ModelKind] = Registry("teacher")
TEACHERS.add("pocketsphinx", ModelKind(Lazy("voxsift.transforms.label:Pocketsphinx.load")))
TEACHERS.add(
    "whisper",
    ModelKind(
        Lazy("voxsift.transforms.whisper:Whisper.load"),
        "NAME_OR_PATH",
        hint="e.g. 'whisper:openai/whisper-small'",
    ),
)
TEACHERS.add(
    "ctc",
    ModelKind(
        Lazy("voxsift.transforms.ctc_teacher:CtcTeacher.load"),
        "PATH",
        hint="a CTC checkpoint or a voxsift train output folder",
    ),
)
TEACHERS.add(
    "faster-whisper",
    ModelKind(
        Lazy("voxsift.transforms.fast_whisper:FasterWhisper.load"),
        "NAME_OR_PATH",
        hint="'tiny.en' or 'base', packaged, or a CTranslate2 model folder",
        check=Lazy("voxsift.models:check_whisper"),
    ),
)

ENHANCERS: Registry[ModelKind] = Registry("enhancer")
ENHANCERS.add("rnnoise", ModelKind(Lazy("voxsift.transforms.enhance:RNNoise.load")))
ENHANCERS.add(
    "demucs",
    ModelKind(
        Lazy("voxsift.transforms.enhance:DemucsVocals.load"),
        "NAME",
        repo=True,
        hint="e.g. 'demucs:htdemucs@/models'",
    ),
)
ENHANCERS.add(
    "deepfilternet", ModelKind(Lazy("voxsift.transforms.onnx_enhance:DeepFilterNet3.load"))
)
ENHANCERS.add("gtcrn", ModelKind(Lazy("voxsift.transforms.onnx_enhance:Gtcrn.load")))

EMBEDDERS: Registry[ModelKind] = Registry("embedding kind")
EMBEDDERS.add("acoustic", ModelKind(Lazy("voxsift.transforms.embed:AcousticHandler")))
EMBEDDERS.add("text", ModelKind(Lazy("voxsift.transforms.embed:TextHandler")))
EMBEDDERS.add(
    "whisper-encoder",
    ModelKind(Lazy("voxsift.transforms.embed:WhisperEncoderHandler"), "NAME_OR_PATH"),
)


def forms(registry: Registry[ModelKind], off: bool = False) -> str:
    """The forms a field accepts, for its description and its error messages."""
    listed = [kind.form(name) for name, kind in registry.items()]
    listed += [repr(OFF)] if off else []
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} or {listed[-1]}"


def parse_model(registry: Registry[ModelKind], value: str, off: bool = False) -> ModelSpec:
    """``value`` as a ModelSpec of a kind in ``registry`` (or ``none`` when ``off``); else a
    ValueError that names the forms the field accepts."""
    if off and value == OFF:
        return ModelSpec(OFF)
    name, colon, argument = value.partition(":")
    if name not in registry:
        raise ValueError(f"unknown {registry.sort} {value!r}; choose one of {forms(registry, off)}")
    kind = registry.get(name)
    if kind.argument is None:
        if colon:
            raise ValueError(f"{registry.sort} {name!r} takes no argument: write {kind.form(name)}")
        return ModelSpec(name)
    if not argument or argument[0].isspace():
        raise ValueError(
            f"{registry.sort} {name!r} needs a model name or path: write {kind.form(name)}"
        )
    if not kind.repo:
        return ModelSpec(name, argument.strip())
    model, at, repo = argument.partition("@")
    if not model or any(c.isspace() for c in model) or (at and (not repo or repo[0].isspace())):
        raise ValueError(f"{registry.sort} {value!r} is not of the form {kind.form(name)}")
    return ModelSpec(name, model, repo if at else None)


def check_model(registry: Registry[ModelKind], value: str, off: bool = False) -> ModelSpec:
    """:func:`parse_model`, then the kind's own check of its argument (the config's check)."""
    spec = parse_model(registry, value, off)
    if spec.kind != OFF and spec.name:
        kind = registry.get(spec.kind)
        if kind.check is not None:
            kind.check(spec.name)
    return spec
