"""The run configuration: one YAML file, validated in full before any work starts.

Each section is a pydantic model that forbids unknown keys, so a typo such as ``max_secs`` is
refused with the field's path and the names it could have meant, instead of being ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from voxsift.selectors.settings import METHODS_NEEDING_TARGET, SelectSettings
from voxsift.settings import Settings
from voxsift.trainers.settings import TrainSettings
from voxsift.transforms.settings import (
    EmbedSettings,
    EnhanceSettings,
    LabelSettings,
    NormalizeSettings,
    QualitySettings,
)

STAGE_FOLDERS = frozenset({"segments", "rejects", "selection", "shards", "report", "run.json"})
"""What the stages write directly under the output; the train stage's folder is none of them."""
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*$", re.IGNORECASE)


class ConfigError(ValueError):
    """A config that cannot run; the message names each bad field and what it accepts."""


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
PathList = Annotated[list[str], BeforeValidator(_as_list)]


class Section(Settings):
    """A section of this stage's settings (voxsift's one settings base)."""


class IngestSettings(Section):
    roots: PathList = Field(
        default_factory=list,
        description="When set, every path read (manifests, audio, sidecar transcripts) must "
        "resolve (symlinks followed) inside one.",
    )
    max_text_chars: int = Field(10_000, gt=0, description="Longer transcripts are rejected.")
    max_line_bytes: Size = Field(
        1_000_000, description="A longer manifest line is rejected (manifest_line_too_long)."
    )
    max_sidecar_bytes: Size = Field(
        1_000_000, description="A larger sidecar .txt is rejected (transcript_too_long)."
    )


class SegmentSettings(Section):
    min_seconds: float = Field(1.0, gt=0, description="Shorter speech is dropped.")
    max_seconds: float = Field(30.0, gt=0, description="Longer speech is split at pauses.")
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="silero-vad speech probability.")
    min_silence_ms: int = Field(300, ge=0, description="A pause this long may end a segment.")
    speech_pad_ms: int = Field(100, ge=0, description="Audio kept around each speech region.")
    stream_window_seconds: float = Field(
        300.0, description="Longer files are streamed through VAD windows this long, not loaded."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SegmentSettings:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("min_seconds must be below max_seconds")
        if self.stream_window_seconds < 2 * self.max_seconds:
            raise ValueError("stream_window_seconds must be at least twice max_seconds")
        return self


class LoudnessSettings(Section):
    enabled: bool = Field(True, description="Scale each segment towards target_lufs.")
    target_lufs: float = Field(-23.0, le=0, description="EBU R128 programme loudness.")
    max_gain_db: float = Field(30.0, ge=0, description="Never amplify or cut by more.")


class ShardSettings(Section):
    max_samples: int = Field(1000, gt=0, description="Samples per shard at most.")
    max_bytes: Size = Field(256 * 10**6, description="Bytes per shard at most, e.g. 256MB.")
    valid_fraction: float = Field(0.05, ge=0, lt=1, description="Share of samples for valid.")
    seed: int = Field(0, description="Seeds shard order and the train/valid split.")


class RunConfig(Section):
    input: PathList = Field(min_length=1, description="Manifests (.jsonl) and audio globs.")
    target: PathList = Field(default_factory=list, description="The in-domain sample.")
    output: str = Field(min_length=1, description="Run folder, local or a URI such as gs://.")
    ingest: IngestSettings = IngestSettings()
    segment: SegmentSettings = SegmentSettings()
    loudness: LoudnessSettings = LoudnessSettings()
    enhance: EnhanceSettings = EnhanceSettings()
    label: LabelSettings = LabelSettings()
    normalize: NormalizeSettings = NormalizeSettings()
    quality: QualitySettings = QualitySettings()
    embed: EmbedSettings = EmbedSettings()
    select: SelectSettings = SelectSettings()
    shard: ShardSettings = ShardSettings()
    train: TrainSettings | None = Field(None, description="Present: `voxsift run` also trains.")

    @field_validator("input", "target")
    @classmethod
    def _no_blank(cls, paths: list[str]) -> list[str]:
        if any(not p.strip() for p in paths):
            raise ValueError("paths must not be empty strings")
        return paths

    @model_validator(mode="after")
    def _method_has_what_it_ranks_against(self) -> RunConfig:
        method = self.select.method
        if method in METHODS_NEEDING_TARGET and not self.target:
            raise ValueError(
                f"select.method {method!r} ranks the pool against a target set, but `target` is "
                "empty; add target: [your_domain.jsonl] or set select.method: random"
            )
        if method in METHODS_NEEDING_TARGET and not self.embed.kinds:
            raise ValueError(f"select.method {method!r} needs embeddings, but embed.kinds is empty")
        return self

    @model_validator(mode="after")
    def _train_output_is_its_own(self) -> RunConfig:
        top = self.train.output.split("/")[0] if self.train else None
        if top in STAGE_FOLDERS:
            raise ValueError(
                f"train.output {self.train.output!r} lies in {top}/, which another stage "
                "writes (and clears); name a folder of its own, such as 'adapter'"
            )
        return self


def _describe(error: dict[str, Any], model: type[BaseModel]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"][:-1])
        return f"{path}: unknown field; allowed: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"{path}: required field is missing"
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(error.get("input"), dict | BaseModel):
        return f"{path}: {message}"
    return f"{path}: {message} (got {error.get('input')!r})"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def parse_config(data: Any, output: str | None = None) -> RunConfig:
    """Validate a mapping as a RunConfig; ``output`` (from --out) overrides the file's."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a YAML mapping of sections")
    if output is not None:
        data = {**data, "output": output}
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        lines = [_describe(e, RunConfig) for e in error.errors()]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def load_config(path: str | Path, output: str | None = None) -> RunConfig:
    """Read YAML safely (no arbitrary objects) and validate it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(data, output)
