"""Exports read back by their consumers: NeMo manifest lines, a Lhotse CutSet, HF ``datasets``.

Lhotse and ``datasets`` (with torchcodec and FFmpeg for audio) are optional: their tests skip with
the reason when absent; what voxsift itself writes is checked either way.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import hashlib
import io as bytes_io
import json
import os
import pickle
import re
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from voxsift import audio, cli, shardio
from voxsift.exports import ExportError, add_export_arguments, export, run_export
from voxsift.schema import SAMPLE_RATE


def _index(config) -> dict:
    return json.loads((Path(config.output) / "shards" / "index.json").read_text())


def _hf_ready() -> str | None:
    """Why ``datasets`` cannot decode audio here, or None when it can."""
    try:
        import datasets  # noqa: F401
        import torchcodec.decoders  # noqa: F401
    except (ImportError, OSError, RuntimeError) as error:
        return f"needs datasets and torchcodec 0.8 (install voxsift[hf]): {error}"
    if shutil.which("ffmpeg") is None:
        return "torchcodec needs FFmpeg (Debian package ffmpeg)"
    return None


def _shards_whose_fields_start_null(out: Path) -> None:
    """Six valid samples whose confidence and meta.snr_db are null in the first five only: the
    five that datasets' webdataset builder guesses column types from."""
    samples = []
    for i in range(6):
        tone = np.sin(np.arange(8000 + 800 * i) / 5.0).astype(np.float32) * 0.2
        fields = {
            "text": f"sample {i}",
            "weight": 1.0,
            "duration": (8000 + 800 * i) / 16000,
            "confidence": None if i < 5 else 0.75,
            "meta": {"condition": "clean", "snr_db": None if i < 5 else 10.0},
        }
        key = f"{i:024x}"
        samples.append(
            {"__key__": key, "flac": audio.encode_flac(tone), "json": shardio.encode_json(fields)}
        )
    folder = str(out / "shards")
    valid = [{**s, "__key__": f"{100 + i:024x}"} for i, s in enumerate(samples)]  # keys unique
    entries = [
        shardio.write_shard(folder, "valid-000000.tar", valid),
        shardio.write_shard(folder, "train-000000.tar", samples),
    ]
    shardio.write_index(folder, entries, "x")


def test_nemo_manifest_points_at_decodable_audio(finished_run, tmp_path, capsys):
    config, _ = finished_run
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    dest = tmp_path / "nemo"
    assert run_export(parser.parse_args([config.output, "--to", "nemo", str(dest)])) == 0
    summary = json.loads(capsys.readouterr().out)
    index = _index(config)
    for split in ("train", "valid"):
        lines = (dest / f"{split}_manifest.jsonl").read_text().splitlines()
        assert len(lines) == index["splits"][split]["samples"] == summary["samples"][split]
        for line in lines:
            entry = json.loads(line)
            assert {"audio_filepath", "duration", "text", "weight"} <= set(entry)
            path = Path(entry["audio_filepath"])
            assert path.is_absolute() and path.parent == dest / "audio"
            audio, rate = soundfile.read(path)
            assert rate == SAMPLE_RATE and audio.ndim == 1
            assert abs(len(audio) / rate - entry["duration"]) < 1e-3
            assert isinstance(entry["text"], str) and entry["weight"] > 0
            assert entry.get("source", "").endswith(".flac")


def test_lhotse_without_lhotse_says_what_to_install(finished_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lhotse", None)
    with pytest.raises(ExportError, match=r"install voxsift\[lhotse\]"):
        export(finished_run[0].output, "lhotse", str(tmp_path / "lhotse"))


def test_lhotse_cutset_loads(finished_run, tmp_path):
    lhotse = pytest.importorskip("lhotse", reason="lhotse is missing: install voxsift[lhotse]")
    config, _ = finished_run
    dest = tmp_path / "lhotse"
    export(config.output, "lhotse", str(dest))
    index = _index(config)
    for split in ("train", "valid"):
        cuts = lhotse.CutSet.from_file(dest / f"cuts_{split}.jsonl.gz")
        assert len(cuts) == index["splits"][split]["samples"]
        for cut in cuts:
            assert cut.sampling_rate == SAMPLE_RATE and len(cut.supervisions) == 1
            assert cut.load_audio().shape == (1, cut.num_samples)
            assert "weight" in cut.supervisions[0].custom
        recordings = lhotse.RecordingSet.from_file(dest / f"recordings_{split}.jsonl.gz")
        assert sorted(recordings.ids) == sorted(cut.recording_id for cut in cuts)


def test_hf_layout_and_card(finished_run, tmp_path):
    config, _ = finished_run
    dest = tmp_path / "hf"
    summary = export(config.output, "hf", str(dest))
    index = _index(config)
    for entry in index["shards"]:
        data = (dest / "data" / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert summary["samples"] == {
        "train": index["splits"]["train"]["samples"],
        "validation": index["splits"]["valid"]["samples"],
    }
    card = (dest / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n") and "path: data/train-*.tar" in card
    front = yaml.safe_load(card.split("---\n")[1])
    assert summary["typed"] and front["dataset_info"]["features"][2] == {
        "name": "flac",
        "dtype": "audio",
    }
    files = ast.literal_eval(re.search(r"data_files = (\{.*\})", card).group(1))
    for split, pattern in files.items():
        prefix = "train" if split == "train" else "valid"
        assert sorted(Path(pattern).parent.glob(Path(pattern).name)) == sorted(
            dest / "data" / e["name"] for e in index["shards"] if e["split"] == prefix
        )


def test_hf_card_snippet_loads_with_datasets(finished_run, tmp_path, monkeypatch, capsys):
    reason = _hf_ready()
    if reason:
        pytest.skip(reason)
    import datasets

    config, _ = finished_run
    dest = tmp_path / "hf"
    export(config.output, "hf", str(dest))
    snippet = re.search(r"```python\n(.*?)```", (dest / "README.md").read_text(), re.S).group(1)
    for name in ("load_dataset", "load_dataset_builder"):
        cached = functools.partial(getattr(datasets, name), cache_dir=str(tmp_path / "cache"))
        monkeypatch.setattr(datasets, name, cached)
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    dataset, audio = scope["dataset"], scope["audio"]
    index = _index(config)
    assert dataset["train"].num_rows == index["splits"]["train"]["samples"]
    assert dataset["validation"].num_rows == index["splits"]["valid"]["samples"]
    assert audio.sample_rate == SAMPLE_RATE and audio.data.shape[-1] > 0
    for sample in dataset["validation"]:
        decoded = sample["flac"].get_all_samples()
        seconds = decoded.data.shape[-1] / decoded.sample_rate
        assert abs(seconds - sample["json"]["duration"]) < 1e-3
        assert isinstance(sample["json"]["text"], str) and sample["json"]["weight"] > 0
    assert capsys.readouterr().out.strip()


def test_hf_card_types_fields_that_are_null_in_the_first_samples(tmp_path, monkeypatch):
    _shards_whose_fields_start_null(tmp_path / "run")
    dest = tmp_path / "hf"
    assert export(str(tmp_path / "run"), "hf", str(dest))["typed"]
    front = yaml.safe_load((dest / "README.md").read_text().split("---\n")[1])
    fields = {f["name"]: f for f in front["dataset_info"]["features"][3]["struct"]}
    assert fields["confidence"] == {"name": "confidence", "dtype": "float64"}
    assert {"name": "snr_db", "dtype": "float64"} in fields["meta"]["struct"]
    reason = _hf_ready()
    if reason:
        pytest.skip(reason)
    import datasets

    loaded = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "cache"))
    assert loaded["validation"][5]["json"]["confidence"] == 0.75
    assert loaded["train"][5]["json"]["meta"]["snr_db"] == 10.0


# Hostile and careless shard folders (issue 12, classes 5, 6 and 11): every export and
# `voxsift verify` apply one set of rules (voxsift.shardio), refuse with one line naming the
# offending entry, and write nothing anywhere.

KEYS = [f"{i:024x}" for i in range(5)]
SHARD = "train-000000.tar"
NAMED = "is not named <24 hex digits>.flac or .json"


class _Touch:
    """A pickle that creates ``path`` when it is unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _good_members(count: int = 3) -> list[tuple[str, bytes]]:
    members = []
    for i in range(count):
        frames = 8000 + 800 * i
        tone = (np.sin(np.arange(frames) / 5.0) * 0.2).astype(np.float32)
        fields = {"text": f"sample {i}", "weight": 1.0, "duration": frames / SAMPLE_RATE}
        members += [
            (f"{KEYS[i]}.flac", audio.encode_flac(tone)),
            (f"{KEYS[i]}.json", shardio.encode_json(fields)),
        ]
    return members


def _tar(path: Path, members: list) -> dict:
    """Write a tar of (name, bytes) regular files and prepared (TarInfo, bytes) members; returns
    its index entry with the right sha256, so only the member rules can catch it."""
    buffer = bytes_io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            info = name if isinstance(name, tarfile.TarInfo) else tarfile.TarInfo(name)
            if info.isreg():
                info.size = len(data)
            archive.addfile(info, bytes_io.BytesIO(data) if info.isreg() else None)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    split = path.name.split("-", 1)[0]
    keys = {n.name if isinstance(n, tarfile.TarInfo) else n for n, _ in members}
    return {
        "name": path.name,
        "split": split,
        "samples": len({k.split(".")[0] for k in keys}),
        "seconds": 1.0,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _run(root: Path, extra: list | None = None, valid_keys: int = 1) -> Path:
    """``root/shards``: train-000000.tar (three good samples, then ``extra``), valid-000000.tar."""
    shards = root / "shards"
    good = _good_members(4)
    entries = [_tar(shards / SHARD, good[:6] + (extra or []))]
    valid = good[6:8] if valid_keys == 1 else good[:2]
    entries.append(_tar(shards / "valid-000000.tar", valid))
    (shards / "index.json").write_text(json.dumps(shardio.index_document(entries, "x")))
    return root


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, b""


def _tree(root: Path) -> dict[str, str]:
    """Every path under root (links not followed) → what it is, with file contents hashed."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if path.is_symlink():
                found[str(path)] = f"link {os.readlink(path)}"
            elif path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path)] = "folder" if path.is_dir() else "other"
    return found


def _cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


FORMAT_NAMES = ["nemo", "lhotse", "hf"]
HOSTILE_MEMBERS = {
    "absolute": ([("{outside}/evil.flac", b"x")], "member '{outside}/evil.flac' " + NAMED),
    "dot-dot": ([("../../evil.flac", b"x")], f"member '../../evil.flac' {NAMED}"),
    "dot-slash": ([(f"./{KEYS[3]}.flac", b"x")], f"member './{KEYS[3]}.flac' {NAMED}"),
    "folder": (
        [_special(KEYS[3], tarfile.DIRTYPE)],
        f"member '{KEYS[3]}' is a folder, not a regular file",
    ),
    "symlink": (
        [_special(f"{KEYS[3]}.flac", tarfile.SYMTYPE, "/etc/passwd")],
        f"member '{KEYS[3]}.flac' is a symlink (to '/etc/passwd'), not a regular file",
    ),
    "hardlink": (
        [_special(f"{KEYS[3]}.flac", tarfile.LNKTYPE, "/etc/passwd")],
        f"member '{KEYS[3]}.flac' is a hardlink (to '/etc/passwd'), not a regular file",
    ),
    "device": (
        [_special(f"{KEYS[3]}.flac", tarfile.CHRTYPE)],
        f"member '{KEYS[3]}.flac' is a device or FIFO, not a regular file",
    ),
    "fifo": (
        [_special(f"{KEYS[3]}.flac", tarfile.FIFOTYPE)],
        f"member '{KEYS[3]}.flac' is a device or FIFO, not a regular file",
    ),
    "pickle": ([(f"{KEYS[2]}.pickle", b"x")], f"member '{KEYS[2]}.pickle' {NAMED}"),
    "pyd": ([(f"{KEYS[2]}.pyd", b"x")], f"member '{KEYS[2]}.pyd' {NAMED}"),
    "long name": (
        [("a" * 300 + ".flac", b"x")],
        f"member '{'a' * 80}'... (305 characters) {NAMED}",
    ),
    "newline": ([(f"{KEYS[3]}.json\n", b"{}")], f"member '{KEYS[3]}.json\\n' {NAMED}"),
    "duplicate": ([(f"{KEYS[2]}.json", b"{}")], f"member '{KEYS[2]}.json' appears twice"),
    "apart": (
        [(f"{KEYS[3]}.flac", b"x"), (f"{KEYS[4]}.flac", b"x"), (f"{KEYS[3]}.json", b"{}")],
        f"member '{KEYS[3]}.json' is apart from its sample",
    ),
    "flac only": (
        [(f"{KEYS[3]}.flac", b"x")],
        f"sample {KEYS[3]}: members ['flac'] instead of flac and json",
    ),
    "json not an object": (
        [(f"{KEYS[3]}.flac", b"x"), (f"{KEYS[3]}.json", b"[1]")],
        f"sample {KEYS[3]}: its json member is a list, not an object",
    ),
}


def _hostile(case: str, outside: Path) -> tuple[list, str]:
    members, problem = HOSTILE_MEMBERS[case]
    named = []
    for name, data in members:
        if isinstance(name, str):
            name = name.format(outside=outside)
        named.append((name, data))
    return named, problem.format(outside=outside)


@pytest.mark.parametrize("case", sorted(HOSTILE_MEMBERS))
def test_every_export_and_verify_refuse_a_hostile_member(case, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    members, problem = _hostile(case, outside)
    run = _run(tmp_path / "run", members)
    shards = str(run / "shards")
    assert shardio.verify(shards) == [f"{shards}/{SHARD}: {problem}"]
    before = _tree(tmp_path)
    for to in FORMAT_NAMES:
        dest = str(tmp_path / "dest" / to)
        assert _cli(capsys, "export", str(run), "--to", to, dest) == (
            2,
            [],
            [f"voxsift: {shards}/{SHARD}: {problem}"],
        ), to
        assert _tree(tmp_path) == before, f"{to} wrote something"
    code, out, _ = _cli(capsys, "verify", shards)
    assert (code, out) == (1, [f"{shards}/{SHARD}: {problem}", f"{shards}: 1 problem(s)"])


F = shardio.FORMAT
ENTRY = {"name": SHARD, "split": "train", "samples": 3, "seconds": 1.0, "bytes": 1, "sha256": ""}
HOSTILE_INDEXES = {
    "a list": ([], "is a list, not a JSON object"),
    "a string": ("shards", "is a string, not a JSON object"),
    "null": (None, "is null, not a JSON object"),
    "no format": (
        {"shards": []},
        "format None is not 'voxsift-shards/1': not a voxsift shard index",
    ),
    "no shards": ({"format": shardio.FORMAT}, "no 'shards'"),
    "shards not a list": ({"format": F, "shards": {}}, "'shards' is an object, not a list"),
    "entry not an object": ({"format": F, "shards": [1]}, "shards[0]: is a number, not an object"),
    "name not a string": (
        {"format": F, "shards": [{"name": 5}]},
        "shards[0]: 'name' is a number, not a string",
    ),
    "no sha256": ({"sha256": None}, f"shards[0]: {SHARD}: 'sha256' is not 64 hex digits"),
    "count a string": ({"samples": "3"}, f"shards[0]: {SHARD}: 'samples' is not a count"),
    "count a boolean": ({"samples": True}, f"shards[0]: {SHARD}: 'samples' is not a count"),
    "split differs": (
        {"split": "valid"},
        f"shards[0]: {SHARD}: 'split' is 'valid', the name says otherwise",
    ),
}
SHARD_NAMES = ["../x.tar", "/etc/passwd", "sub/train-000000.tar", "train-000000.tar\x00", "..",
               "train-000000.tar\n", "train-000000.tar/.."]  # fmt: skip


def _write_index(run: Path, value) -> str:
    """Replace the run's index.json by ``value``: a document, or a dict of fields that replace
    those of the first shard entry of the real index."""
    path = run / "shards" / "index.json"
    index = json.loads(path.read_text())
    if isinstance(value, dict) and "shards" not in value and "format" not in value:
        index["shards"][0].update(value)
        value = index
    path.write_text(json.dumps(value))
    return str(run / "shards")


def _refused_everywhere(capsys, tmp_path, run: Path, problem: str) -> None:
    """verify prints the problem first and exits 1; every export prints it alone and exits 2."""
    shards = str(run / "shards")
    code, out, _ = _cli(capsys, "verify", shards)
    assert code == 1 and out[0] == problem and out[-1].endswith("problem(s)"), out
    before = _tree(tmp_path)
    for to in FORMAT_NAMES:
        result = _cli(capsys, "export", str(run), "--to", to, str(tmp_path / to))
        assert result == (2, [], [f"voxsift: {problem}"]), to
        assert _tree(tmp_path) == before


@pytest.mark.parametrize("case", sorted(HOSTILE_INDEXES))
def test_a_malformed_index_is_a_sentence_not_a_traceback(case, tmp_path, capsys):
    value, problem = HOSTILE_INDEXES[case]
    shards = _write_index(_run(tmp_path / "run"), value)
    _refused_everywhere(capsys, tmp_path, tmp_path / "run", f"{shards}/index.json: {problem}")


@pytest.mark.parametrize("name", SHARD_NAMES)
def test_a_shard_name_that_is_a_path_is_refused(name, tmp_path, capsys):
    shards = _write_index(_run(tmp_path / "run"), {"name": name})
    problem = (
        f"shards[0]: {name!r} is not a voxsift shard name (train-NNNNNN.tar, valid-NNNNNN.tar)"
    )
    _refused_everywhere(capsys, tmp_path, tmp_path / "run", f"{shards}/index.json: {problem}")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{", "not valid JSON (Expecting property name enclosed in double quotes"),
        ("[" * 100_000, "not valid JSON ("),
        (b"\xff\xfe", "not valid JSON ("),
    ],
)
def test_an_index_that_is_not_json_is_a_sentence(text, problem, tmp_path, capsys):
    run = _run(tmp_path / "run")
    path = run / "shards" / "index.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert shardio.verify(str(run / "shards"))[0].startswith(f"{path}: {problem}")
    for to in FORMAT_NAMES:
        code, out, err = _cli(capsys, "export", str(run), "--to", to, str(tmp_path / to))
        assert code == 2 and len(err) == 1 and err[0].startswith(f"voxsift: {path}: {problem}")
    assert not any((tmp_path / to).exists() for to in FORMAT_NAMES)


def test_the_same_shard_listed_twice_is_refused(tmp_path, capsys):
    run = _run(tmp_path / "run")
    path = run / "shards" / "index.json"
    index = json.loads(path.read_text())
    index["shards"].append(dict(index["shards"][0]))
    path.write_text(json.dumps(index))
    problem = f"{path}: shards[2]: '{SHARD}' is listed twice"
    _refused_everywhere(capsys, tmp_path, run, problem)


def test_a_key_in_two_shards_is_refused(tmp_path, capsys):
    run = _run(tmp_path / "run", valid_keys=0)
    shards = run / "shards"
    assert shardio.verify(str(shards)) == [f"valid-000000.tar: sample {KEYS[0]} is also in {SHARD}"]
    for to in FORMAT_NAMES:
        result = _cli(capsys, "export", str(run), "--to", to, str(tmp_path / to))
        assert result == (2, [], [f"voxsift: {shards}/valid-000000.tar: sample {KEYS[0]} is "
                                  f"also in {SHARD}"]), to  # fmt: skip
        assert not (tmp_path / to).exists()


def test_shard_files_that_are_not_plain_files_are_refused(tmp_path, capsys):
    run = _run(tmp_path / "run")
    shard = run / "shards" / SHARD
    elsewhere = tmp_path / "elsewhere" / SHARD
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(shard.read_bytes())  # a sound tar, the index's sha256: only the link
    shard.unlink()
    shard.symlink_to(elsewhere)
    problem = f"{shard}: a symlink (to '{elsewhere}'), not a file voxsift wrote"
    _refused_everywhere(capsys, tmp_path, run, problem)
    shard.unlink()
    os.mkfifo(shard)  # would block a reader forever
    _refused_everywhere(capsys, tmp_path, run, f"{shard}: not a regular file")
    shard.unlink()
    shard.mkdir()
    _refused_everywhere(capsys, tmp_path, run, f"{shard}: not a regular file")
    shard.rmdir()
    _refused_everywhere(capsys, tmp_path, run, f"{shard}: listed in the index but missing")
    index = run / "shards" / "index.json"
    (tmp_path / "index.json").write_bytes(index.read_bytes())
    index.unlink()
    index.symlink_to(tmp_path / "index.json")
    code, out, _ = _cli(capsys, "verify", str(run / "shards"))
    assert (code, out[0]) == (1, f"{index}: a symlink (to '{tmp_path}/index.json'), not a file "
                                 "voxsift wrote")  # fmt: skip


@pytest.mark.parametrize(
    "to, link",
    [("nemo", "audio"), ("lhotse", "audio"), ("hf", "data"), ("hf", "README.md"),
     ("nemo", "train_manifest.jsonl"), ("lhotse", "cuts_train.jsonl.gz")],
)  # fmt: skip
def test_a_destination_that_leads_outside_dest_is_refused(to, link, tmp_path, capsys):
    run = _run(tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the user's")
    dest = tmp_path / "dest"
    dest.mkdir()
    target = outside if "." not in link else outside / "keep.txt"
    (dest / link).symlink_to(target)
    before = _tree(tmp_path)
    problem = f"{dest / link} is a symlink (to '{target}'): an export writes only inside {dest}"
    assert _cli(capsys, "export", str(run), "--to", to, str(dest)) == (
        2,
        [],
        [f"voxsift: {problem}"],
    )
    assert _tree(tmp_path) == before  # what the export wrote before refusing is removed again


def test_what_is_in_the_way_of_an_export_is_neither_replaced_nor_deleted(tmp_path, capsys):
    run = _run(tmp_path / "run")
    dest = tmp_path / "dest"
    (dest / "train_manifest.jsonl").mkdir(parents=True)
    (dest / "train_manifest.jsonl" / "mine.txt").write_text("the user's")
    before = _tree(tmp_path)
    problem = f"{dest}/train_manifest.jsonl exists and is not a file: not replacing it"
    assert _cli(capsys, "export", str(run), "--to", "nemo", str(dest)) == (
        2,
        [],
        [f"voxsift: {problem}"],
    )
    assert _tree(tmp_path) == before
    (tmp_path / "file").write_text("x")
    result = _cli(capsys, "export", str(run), "--to", "hf", str(tmp_path / "file"))
    assert result == (2, [], [f"voxsift: {tmp_path / 'file'} exists and is not a folder"])


def test_sound_shards_still_export_to_every_format_and_read_back(tmp_path):
    lhotse = pytest.importorskip("lhotse", reason="lhotse is missing: install voxsift[lhotse]")
    run = _run(tmp_path / "run")
    assert shardio.verify(str(run / "shards")) == []
    for _ in range(2):  # a second export into the same DEST replaces the first one's files
        nemo = export(str(run), "nemo", str(tmp_path / "nemo"))
        cuts = export(str(run), "lhotse", str(tmp_path / "lhotse"))
        hf = export(str(run), "hf", str(tmp_path / "hf"))
    lines = Path(nemo["manifests"]["train"]).read_text().splitlines()
    assert [soundfile.info(json.loads(line)["audio_filepath"]).frames for line in lines] == [
        8000, 8800, 9600
    ]  # fmt: skip
    loaded = lhotse.CutSet.from_file(cuts["cuts"]["train"])
    assert sorted(c.load_audio().shape[1] for c in loaded) == [8000, 8800, 9600]
    assert hf["samples"] == {"train": 3, "validation": 1}
    assert sorted(p.name for p in (tmp_path / "hf" / "data").iterdir()) == [
        SHARD, "valid-000000.tar"
    ]  # fmt: skip


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def _swap_in_pickles(tar: Path, marker: Path) -> None:
    """Write a tar whose three samples each also hold ``.pickle`` and ``.pyd`` members that
    create ``marker`` when unpickled."""
    payload = pickle.dumps(_Touch(marker))
    good = _good_members(3)
    members = []
    for i in range(3):
        members += good[2 * i : 2 * i + 2]
        members += [(f"{KEYS[i]}.pickle", payload), (f"{KEYS[i]}.pyd", payload)]
    _tar(tar, members)


def test_reading_examples_never_unpickle_a_member(tmp_path, monkeypatch, capsys):
    """The card's and the README's snippets, run on a tar swapped for a hostile one after the
    export, read the audio and JSON and never unpickle; a bare .decode() would."""
    import webdataset as wds

    dest = tmp_path / "hf"
    export(str(_run(tmp_path / "run")), "hf", str(dest))
    marker = tmp_path / "unpickled"
    _swap_in_pickles(dest / "data" / SHARD, marker)
    list(wds.WebDataset([str(dest / "data" / SHARD)], shardshuffle=False).decode())
    assert marker.exists(), "the payload should run under a bare decode()"
    marker.unlink()
    card = _python_blocks((dest / "README.md").read_text())[1]
    readme = Path(__file__).resolve().parent.parent / "README.md"
    examples = [b for b in _python_blocks(readme.read_text()) if "wds.WebDataset(" in b]
    assert "decode(" not in card + "".join(examples) and len(examples) == 1
    for snippet in (card, examples[0].replace("DEST", str(dest))):
        scope: dict = {}
        exec(compile(snippet, "snippet", "exec"), scope)
        assert not marker.exists()
        fields, (waveform, rate) = scope["first"]["json"], scope["first"]["flac"]
        assert {"flac", "json"} <= set(scope["first"]) and "pickle" not in scope["first"]
        assert fields["text"] == "sample 0" and rate == SAMPLE_RATE and len(waveform) == 8000
    capsys.readouterr()
    datasets = pytest.importorskip("datasets", reason="needs datasets (install voxsift[hf])")
    swapped = {"train": [str(dest / "data" / SHARD)]}
    binary, number = datasets.Value("binary"), datasets.Value("float64")
    columns = {"__key__": datasets.Value("string"), "__url__": datasets.Value("string")}
    columns.update(flac=binary, pickle=binary, pyd=binary)  # flac as bytes: no torchcodec needed
    columns["json"] = {"text": datasets.Value("string"), "weight": number, "duration": number}
    loaded = datasets.load_dataset(
        "webdataset",
        data_files=swapped,
        features=datasets.Features(columns),
        cache_dir=str(tmp_path / "c"),
    )
    assert loaded["train"].num_rows == 3 and isinstance(loaded["train"][0]["pickle"], bytes)
    assert not marker.exists()
    reason = _hf_ready()
    if reason:
        pytest.skip(f"the card's datasets snippet {reason}")
    for name in ("load_dataset", "load_dataset_builder"):
        cached = functools.partial(getattr(datasets, name), cache_dir=str(tmp_path / "cache"))
        monkeypatch.setattr(datasets, name, cached)
    with contextlib.suppress(Exception):  # the extra member may fail the load; it must not run
        exec(compile(_python_blocks((dest / "README.md").read_text())[0], "card", "exec"), {})
    assert not marker.exists()


def test_the_trainer_never_unpickles_a_member(tmp_path):
    from voxsift.trainers.settings import DataSettings
    from voxsift.trainers.shards import ShardBatches, make_loader

    class NoFeatures:
        name, window_seconds = "none", 0.0

        def collate(self, audio, texts):
            return {}

        def label_fits(self, text, duration):
            return True

    marker = tmp_path / "unpickled"
    _swap_in_pickles(tmp_path / SHARD, marker)
    settings = DataSettings(batch_seconds=4.0, max_seconds=2.0)
    dataset = ShardBatches([str(tmp_path / SHARD)], settings, NoFeatures(), seed=0)
    keys = [key for batch in make_loader(dataset, 0) for key in batch.keys]
    assert sorted(keys) == KEYS[:3] and not marker.exists()
