"""The run configuration: one YAML file, validated in full before any work starts.

Each section is a pydantic model that forbids unknown keys, so a typo such as ``max_secs`` is
refused with the field's path and the names it could have meant, instead of being ignored.
The sections are declared beside their stage (``transforms/settings.py``,
``selectors/settings.py``, ``trainers/settings.py``) on the one base of ``voxsift/settings.py``;
the shard stage, which lives in ``pipelines/``, has its section here. The curate steps' sections
derive from the step table (``transforms/steps.py``), the selector methods' from theirs; a name
that picks a kind (a teacher, an enhancer, a method, an adapter) is checked against its registry,
so an unknown one is refused with the list of choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from voxsift.selectors.settings import SelectSettings
from voxsift.settings import PathList, Settings, Size, sections
from voxsift.trainers.settings import TrainSettings
from voxsift.transforms import steps
from voxsift.transforms.settings import IngestSettings, LoudnessSettings, SegmentSettings

STAGE_FOLDERS = frozenset({"segments", "rejects", "selection", "shards", "report", "run.json"})
"""What the stages write directly under the output; the train stage's folder is none of them."""


class ConfigError(ValueError):
    """A config that cannot run; the message names each bad field and what it accepts."""


class ShardSettings(Settings):
    max_samples: int = Field(1000, gt=0, description="Samples per shard at most.")
    max_bytes: Size = Field(256 * 10**6, description="Bytes per shard at most, e.g. 256MB.")
    valid_fraction: float = Field(0.05, ge=0, lt=1, description="Share of samples for valid.")
    seed: int = Field(0, description="Seeds shard order and the train/valid split.")


CurateSections = sections("CurateSections", steps.sections(), __name__)
"""One section per curate step that has settings (enhance, label, normalize, quality, embed),
named after the step, from the table in transforms/steps.py."""


class RunConfig(CurateSections):
    input: PathList = Field(min_length=1, description="Manifests (.jsonl) and audio globs.")
    target: PathList = Field(default_factory=list, description="The in-domain sample.")
    output: str = Field(min_length=1, description="Run folder, local or a URI such as gs://.")
    ingest: IngestSettings = IngestSettings()
    segment: SegmentSettings = SegmentSettings()
    loudness: LoudnessSettings = LoudnessSettings()
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
        method, needs_target = self.select.method, self.select.ranking.needs_target
        if needs_target and not self.target:
            raise ValueError(
                f"select.method {method!r} ranks the pool against a target set, but `target` is "
                "empty; add target: [your_domain.jsonl] or set select.method: random"
            )
        if needs_target and not self.embed.kinds:
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
