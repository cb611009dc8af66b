"""Settings of the curate steps: offline defaults, config strings, messages that name the fix."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from voxsift.transforms.settings import (
    EmbedSettings,
    EnhanceSettings,
    LabelSettings,
    ModelSpec,
    NormalizeSettings,
    QualitySettings,
)
from voxsift.transforms.steps import CURATE_STEPS, curate_steps


def test_defaults_are_offline_models():
    assert EnhanceSettings().spec == ModelSpec("none")  # off: it raised the real teacher's WER
    assert LabelSettings().spec == ModelSpec("pocketsphinx")
    assert NormalizeSettings().language == "en"


@pytest.mark.parametrize(
    ("method", "spec"),
    [
        ("none", ModelSpec("none")),
        ("demucs:htdemucs", ModelSpec("demucs", "htdemucs", None)),
        ("demucs:tiny@/models/demucs repo", ModelSpec("demucs", "tiny", "/models/demucs repo")),
    ],
)
def test_enhance_methods(method, spec):
    assert EnhanceSettings(method=method).spec == spec


def test_whisper_teacher_by_name_or_path():
    assert LabelSettings(teacher="whisper:openai/whisper-small").spec == ModelSpec(
        "whisper", "openai/whisper-small"
    )
    assert LabelSettings(teacher="whisper:/models/w").spec.name == "/models/w"


@pytest.mark.parametrize(
    ("model", "values", "field", "forms"),
    [
        (EnhanceSettings, {"method": "demucs"}, "method", "demucs:NAME[@REPO_DIR]"),
        (EnhanceSettings, {"method": "spectral"}, "method", "'rnnoise'"),
        (LabelSettings, {"teacher": "whisper:"}, "teacher", "whisper:NAME_OR_PATH"),
        (LabelSettings, {"device": "gpu"}, "device", "cuda:N"),
        (NormalizeSettings, {"language": "ru"}, "language", "en"),
        (QualitySettings, {"vad_treshold": 0.4}, "vad_treshold", "Extra inputs"),
    ],
)
def test_bad_values_name_the_field_and_the_allowed_forms(model, values, field, forms):
    with pytest.raises(ValidationError) as caught:
        model(**values)
    assert isinstance(caught.value, ValueError)
    error = caught.value.errors()[0]
    assert error["loc"] == (field,) and forms in error["msg"]


def test_switched_off_steps_are_left_out():
    steps = curate_steps(
        SimpleNamespace(
            quality=QualitySettings(enabled=False),
            enhance=EnhanceSettings(method="none"),
            label=LabelSettings(teacher="none"),
            normalize=NormalizeSettings(enabled=False),
            embed=EmbedSettings(kinds=[]),
        )
    )
    assert steps == []


def test_the_step_table_orders_the_steps_and_names_the_config_sections():
    from voxsift.config import RunConfig

    assert CURATE_STEPS.names() == ("enhance", "label", "normalize", "quality", "embed")
    assert set(CURATE_STEPS.names()) <= set(RunConfig.model_fields)
    config = {"input": ["p.jsonl"], "target": ["t.jsonl"], "output": "out"}
    steps = curate_steps(RunConfig(**config, enhance={"method": "rnnoise"}))
    assert [name for name, _ in steps] == list(CURATE_STEPS.names())


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_warning(caplog, monkeypatch):
    import torch

    from voxsift.asr.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and not caplog.records
    assert resolve_device("cuda:1") == "cpu"
    assert "no GPU" in caplog.text
