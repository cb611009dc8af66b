"""Settings of the curate steps: offline defaults, config strings, messages that name the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voxsift.transforms.settings import (
    EnhanceSettings,
    LabelSettings,
    ModelSpec,
    NormalizeSettings,
    QualitySettings,
)
from voxsift.transforms.steps import curate_steps


def test_defaults_are_offline_models():
    assert EnhanceSettings().spec == ModelSpec("rnnoise")
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
        QualitySettings(enabled=False),
        EnhanceSettings(method="none"),
        LabelSettings(teacher="none"),
        NormalizeSettings(enabled=False),
    )
    assert steps == []


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_warning(caplog, monkeypatch):
    import torch

    from voxsift.transforms.inference import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and not caplog.records
    assert resolve_device("cuda:1") == "cpu"
    assert "no GPU" in caplog.text
