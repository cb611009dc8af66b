"""Careless runs: an output folder that is not voxsift's, edits --resume must see, two runs on
one folder, and the errors that must be one sentence instead of a traceback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import MULTI_PROCESS, corpus_config
from voxsift import cli
from voxsift.config import ConfigError, parse_config
from voxsift.pipelines import listing, run, workspace
from voxsift.pipelines.workspace import OutputError


def _sha256s(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _pool_lines(corpus: Path, count: int, labeled: bool | None = None) -> list[dict]:
    lines = [json.loads(line) for line in (corpus / "pool.jsonl").read_text().splitlines()]
    if labeled is not None:
        lines = [line for line in lines if ("text" in line) == labeled]
    for line in lines:
        line["audio"] = str(corpus / line["audio"])
    return lines[:count]


def _write_manifest(path: Path, lines: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _small_config(manifest: Path, out: Path, **sections):
    data = {
        "input": [str(manifest)],
        "output": str(out),
        "select": {"method": "random", "budget_count": 1000},
        **sections,
    }
    return parse_config(data)


# --- the output folder: never somebody else's, never overlapping an input ------------------


def test_output_holding_the_inputs_is_refused_and_nothing_is_touched(corpus, tmp_path):
    """The issue's example: the user's audio sits in data/segments and output is data."""
    data = tmp_path / "data"
    (data / "segments").mkdir(parents=True)
    for line in _pool_lines(corpus, 3):
        (data / "segments" / Path(line["audio"]).name).write_bytes(Path(line["audio"]).read_bytes())
    before = _sha256s(data)
    config = _small_config(data / "segments" / "x.jsonl", data)
    config = config.model_copy(update={"input": [str(data / "segments" / "*.flac")]})
    with pytest.raises(OutputError, match=r"^output: .* contains the input '.*segments/\*\.flac'"):
        run.run_all(config, [], resume=False)
    assert _sha256s(data) == before


def test_other_overlaps_and_foreign_folders_are_refused(corpus, tmp_path):
    raw = tmp_path / "raw"
    lines = _pool_lines(corpus, 2)
    manifest = _write_manifest(raw / "m.jsonl", lines)
    (raw / "sub").mkdir()
    (raw / "sub" / "a.flac").write_bytes(Path(lines[0]["audio"]).read_bytes())
    # the output inside a folder that a recursive glob reads
    config = _small_config(manifest, raw / "out").model_copy(
        update={"input": [str(raw / "**" / "*.flac")]}
    )
    with pytest.raises(OutputError, match="lies inside .* which the input .* reads recursively"):
        run.run_all(config, [], resume=False)
    # a folder holding somebody's files, no voxsift marker
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(
        OutputError, match=r"already holds files voxsift did not write \(notes\.txt"
    ):
        run.run_one("curate", _small_config(manifest, mine), [], resume=False)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(mine)) == ["notes.txt"]
    # the output is a file
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        run.run_all(_small_config(manifest, plain), [], resume=False)
    assert plain.read_text() == "x"


def test_stage_folder_without_the_marker_is_not_deleted(tmp_path):
    folder = tmp_path / "out" / "shards"
    folder.mkdir(parents=True)
    (folder / "precious.tar").write_bytes(b"user data")
    with pytest.raises(OutputError, match="shard stage will not delete them"):
        workspace.clear_stage_folder(str(folder), "shard")
    assert (folder / "precious.tar").read_bytes() == b"user data"
    workspace.clear_stage_folder(str(tmp_path / "out" / "segments"), "curate")
    (tmp_path / "out" / "segments" / "part-0.parquet").write_bytes(b"old")
    workspace.clear_stage_folder(str(tmp_path / "out" / "segments"), "curate")
    assert os.listdir(tmp_path / "out" / "segments") == [workspace.OWNER_MARKER]


def test_what_a_killed_write_left_behind_is_voxsifts_own(tmp_path):
    """A run killed between writing a marker's temporary and renaming it leaves a stage folder
    holding only ``..voxsift.tmp-<uuid>``: the resumed run clears it; a user's look-alike stays
    foreign."""
    out, leftover = tmp_path / "out", f".{workspace.OWNER_MARKER}.tmp-{'0a' * 16}"
    (out / "shards").mkdir(parents=True)
    workspace.claim_output(str(out))  # an earlier run's root
    (out / "shards" / leftover).write_bytes(b"{")
    (out / f".run.json.tmp-{'1b' * 16}").write_bytes(b"{")
    workspace.clear_stage_folder(str(out / "shards"), "shard")
    assert os.listdir(out / "shards") == [workspace.OWNER_MARKER]
    workspace.check_output(str(out), [])
    workspace.claim_output(str(out))
    assert sorted(os.listdir(out)) == [workspace.OWNER_MARKER, "shards"]
    (out / "valid").mkdir()
    (out / "valid" / ".notes.tmp-mine").write_bytes(b"user data")
    with pytest.raises(OutputError, match="valid stage will not delete them"):
        workspace.clear_stage_folder(str(out / "valid"), "valid")


def test_cli_refuses_an_overlapping_output_in_one_line(corpus, tmp_path, capsys):
    data = tmp_path / "data"
    manifest = _write_manifest(data / "pool.jsonl", _pool_lines(corpus, 2))
    config_path = tmp_path / "c.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {"input": [str(manifest)], "output": str(tmp_path), "select": {"method": "random"}}
        )  # fmt: skip
    )
    assert cli.main(["run", str(config_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"voxsift: output: {tmp_path} contains")


# --- --resume sees every edit ------------------------------------------------------------


def test_resume_reruns_curate_after_a_same_length_transcript_edit(corpus, tmp_path):
    lines = _pool_lines(corpus, 3, labeled=True)
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", lines)
    config = _small_config(manifest, tmp_path / "out")
    run.run_all(config, [], resume=False)
    edited = lines[0]["text"].upper()
    assert edited != lines[0]["text"] and len(edited) == len(lines[0]["text"])
    size = manifest.stat().st_size
    _write_manifest(manifest, [{**lines[0], "text": edited}, *lines[1:]])
    assert manifest.stat().st_size == size
    record = run.run_all(config, [], resume=True)
    assert not any(stage["skipped"] for stage in record["stages"].values())
    texts = pq.read_table(tmp_path / "out" / "segments", columns=["text"])["text"].to_pylist()
    assert edited in texts and lines[0]["text"] not in texts
    again = run.run_all(config, [], resume=True)
    assert all(stage["skipped"] for stage in again["stages"].values())


def test_fingerprint_sees_sidecar_edits_and_rewritten_audio(corpus, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    sources = [Path(line["audio"]) for line in _pool_lines(corpus, 2)]
    for source in sources:
        (raw / source.name).write_bytes(source.read_bytes())
    sidecar = raw / sources[0].with_suffix(".txt").name
    sidecar.write_text("violin is cold")
    glob_config = _small_config(raw / "unused.jsonl", tmp_path / "out").model_copy(
        update={"input": [str(raw / "*.flac")]}
    )
    first = listing.input_listing(glob_config)
    sidecar.write_text("VIOLIN is COLD")
    assert listing.input_listing(glob_config) != first
    # audio rewritten with the same size, as any tool that rewrites a file does (new mtime)
    manifest = _write_manifest(tmp_path / "m.jsonl", [{"audio": str(raw / sources[1].name)}])
    manifest_config = _small_config(manifest, tmp_path / "out")
    before = listing.input_listing(manifest_config)
    audio = raw / sources[1].name
    stamp = audio.stat().st_mtime_ns
    audio.write_bytes(audio.read_bytes())
    os.utime(audio, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert listing.input_listing(manifest_config) != before


def test_listing_never_reads_what_is_not_a_regular_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    os.mkfifo(raw / "a.txt")  # the sidecar of a.wav: reading it would block forever
    (raw / "a.wav").write_bytes(b"RIFF")
    os.symlink("/dev/zero", tmp_path / "zero.jsonl")
    config = _small_config(tmp_path / "zero.jsonl", tmp_path / "out").model_copy(
        update={"input": [str(tmp_path / "zero.jsonl"), str(raw / "*.wav")]}
    )
    found = listing.input_listing(config)
    assert found[0] == [str(tmp_path / "zero.jsonl"), "not_a_regular_file"]
    assert found[1][1][0][3] == "rejected: not_a_regular_file"


# --- one run at a time -------------------------------------------------------------------


def test_second_run_on_a_held_output_is_refused(corpus, tmp_path):
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", _pool_lines(corpus, 2))
    out = tmp_path / "out"
    with workspace.run_lock(str(out)):
        with pytest.raises(OutputError, match=r"another voxsift run is using .* \(pid \d+ on "):
            run.run_all(_small_config(manifest, out), [], resume=False)
        with pytest.raises(OutputError, match="another voxsift run is using"):
            run.run_one("select", _small_config(manifest, out), [], resume=False)
    assert not (out / "segments").exists()


def test_lock_of_a_killed_run_is_released(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from voxsift.pipelines import workspace\n"
         f"with workspace.run_lock({str(out)!r}):\n print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputError, match=f"pid {holder.pid} "), workspace.run_lock(str(out)):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with workspace.run_lock(str(out)):
        pass


# --- a sentence, not a traceback ---------------------------------------------------------


def test_full_disk_while_writing_the_report_leaves_no_temporary_file(
    finished_run, monkeypatch, capsys
):
    config, _ = finished_run
    from apache_beam.io.filesystems import FileSystems

    real_create = FileSystems.create

    class FullDisk:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            self._handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    monkeypatch.setattr(
        FileSystems, "create", staticmethod(lambda path, **kw: FullDisk(real_create(path, **kw)))
    )
    assert cli.main(["report", config.output]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["voxsift: report failed: No space left on device"]
    assert not list(Path(config.output).rglob(".*.tmp-*"))


@pytest.mark.parametrize("beam_args", [[], MULTI_PROCESS], ids=["in-process", "two-workers"])
def test_interrupt_prints_one_line_and_the_resume_hint(corpus, tmp_path, beam_args):
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, workers included."""
    config = corpus_config(corpus, tmp_path / "out")
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    child = subprocess.Popen(
        [sys.executable, "-m", "voxsift.cli", "run", str(config_path), "--", *beam_args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    assert child.stderr.readline().strip() == "voxsift: curate …"
    time.sleep(3)  # into the pipeline, not a timed assertion
    os.killpg(child.pid, signal.SIGINT)
    rest = child.stderr.read().strip().splitlines()
    assert child.wait(timeout=120) == 130
    hint = "voxsift: run interrupted; rerun with --resume to keep the stages that finished"
    assert rest[-1] == hint
    assert not [line for line in rest if "Traceback" in line or "KeyboardInterrupt" in line]
    assert not _group_alive(child.pid), "a worker process outlived the run"


def _group_alive(group: int, patience: float = 10.0) -> bool:
    """Whether any process of the group is still there (killed ones take a moment to be reaped)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


def test_target_identical_to_the_pool_says_so(corpus, tmp_path):
    manifest = str(corpus / "target.jsonl")
    config = parse_config(
        {"input": [manifest], "target": [manifest], "output": str(tmp_path / "out"),
         "select": {"method": "nudge", "budget_count": 4}}
    )  # fmt: skip
    run.run_one("curate", config, [], resume=False)
    with pytest.raises(ValueError, match=r"every pool line \(6\) was a duplicate of a target line"):
        run.run_one("select", config, [], resume=False)


def test_train_names_a_model_that_cannot_be_loaded_offline(finished_run, tmp_path, capsys):
    shards = Path(finished_run[0].output) / "shards"
    code = cli.main(
        ["train", "--shards", str(shards), "--out", str(tmp_path / "a"),
         "--model", "openai/whisper-tiny-not-cached"]
    )  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1
    assert "model 'openai/whisper-tiny-not-cached' cannot be loaded" in error[0]


@pytest.mark.parametrize(
    ("section", "value"),
    [("select", {"budget_count": True}), ("shard", {"max_samples": False}),
     ("segment", {"min_seconds": True}), ("quality", {"enabled": 1})],
)  # fmt: skip
def test_booleans_are_not_numbers_and_numbers_not_booleans(tmp_path, section, value):
    field = next(iter(value))
    with pytest.raises(ConfigError, match=rf"{section}\.{field}: Input should be a valid"):
        parse_config({"input": ["x.jsonl"], "output": str(tmp_path), section: value})


def test_a_mistyped_beam_option_is_refused_before_work(corpus, tmp_path):
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", _pool_lines(corpus, 2))
    config = _small_config(manifest, tmp_path / "out")
    with pytest.raises(ValueError, match=r"^unknown Beam option --runer \(did you mean --runner\?"):
        run.run_all(config, ["--runer=DataflowRunner"], resume=False)
    with pytest.raises(ValueError, match=r"^unknown Beam option --direct_num_worker "):
        run.run_one("curate", config, ["--direct_num_worker=2"], resume=False)
    assert not (tmp_path / "out").exists()


def test_a_refused_submission_keeps_the_stage_output(corpus, tmp_path):
    """A runner that does not accept the job (Dataflow without its dependencies or credentials)
    must leave the previous output of the stage where it was."""
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", _pool_lines(corpus, 2))
    config = _small_config(manifest, tmp_path / "out")
    run.run_one("curate", config, [], resume=False)
    before = _sha256s(tmp_path / "out" / "segments")
    dataflow = ["--runner=DataflowRunner", "--project=p", "--region=r",
                "--temp_location=gs://nowhere/tmp"]  # fmt: skip
    with pytest.raises(Exception) as refused:
        run.run_one("curate", config, dataflow, resume=False)
    assert not isinstance(refused.value, OutputError)
    assert _sha256s(tmp_path / "out" / "segments") == before


def test_an_input_that_names_no_file_is_refused_before_work(corpus, tmp_path):
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", _pool_lines(corpus, 2))
    config = _small_config(manifest, tmp_path / "out").model_copy(
        update={"input": [str(manifest), str(tmp_path / "none" / "*.flac")],
                "target": [str(tmp_path / "missing.jsonl")]}
    )  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        run.run_all(config, [], resume=False)
    assert str(refused.value) == (
        f"input[1]: '{tmp_path}/none/*.flac' matches no audio file; "
        f"target[0]: the manifest {tmp_path}/missing.jsonl does not exist"
    )
    assert not (tmp_path / "out").exists()


def test_a_run_folder_from_before_the_markers_is_still_voxsift_s(tmp_path):
    out = tmp_path / "old-run"
    (out / "segments").mkdir(parents=True)
    (out / "run.json").write_text(json.dumps({"config_hash": "abc", "stages": {}}))
    (out / "segments" / "_SUCCESS").write_text(json.dumps({"stage": "curate", "fingerprint": "f"}))
    (out / "segments" / "part-0.parquet").write_bytes(b"old")
    workspace.check_output(str(out), [])
    workspace.clear_stage_folder(str(out / "segments"), "curate")
    assert os.listdir(out / "segments") == [workspace.OWNER_MARKER]
    (out / "shards").mkdir()
    (out / "shards" / "_SUCCESS").write_text("written by another tool")
    with pytest.raises(OutputError, match="shard stage will not delete them"):
        workspace.clear_stage_folder(str(out / "shards"), "shard")


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("label", {"teacher": "whisper:/no/such/model"}, "label.teacher"),
        ("embed", {"kinds": ["acoustic", "whisper-encoder:/no/such/model"]}, "embed.kinds"),
        ("train", {"model": "openai/whisper-tiny-not-cached"}, "train.model"),
    ],
)
def test_a_model_that_cannot_be_loaded_stops_the_run_before_work(
    corpus, tmp_path, section, value, field
):
    manifest = _write_manifest(tmp_path / "in" / "m.jsonl", _pool_lines(corpus, 2))
    config = _small_config(manifest, tmp_path / "out", **{section: value})
    with pytest.raises(ConfigError, match=rf"^{field}: (model )?'.*' cannot be loaded: "):
        run.run_all(config, [], resume=False)
    assert not (tmp_path / "out").exists()
