"""The progress line: fed by sink files, quiet when disabled."""

from __future__ import annotations

import io
import pickle

from voxsift.progress import ProgressDisplay, is_local


def test_sinks_feed_the_status_line():
    stream = io.StringIO()
    with ProgressDisplay("curate", "files", total=10, enabled=True, stream=stream) as display:
        first, second = display.sink(), pickle.loads(pickle.dumps(display.sink()))
        first.add(2, 7.5)
        second.add(1, 2.5)
        first.flush()
        second.flush()
    last = stream.getvalue().rsplit("\r", 1)[-1]
    assert "curate" in last and "3/10 files" in last and "10.0 s audio" in last
    assert "ETA" in last


def test_disabled_display_writes_nothing():
    stream = io.StringIO()
    with ProgressDisplay("shard", "samples", total=None, enabled=False, stream=stream) as display:
        display.sink().add(5, 1.0)
    assert stream.getvalue() == ""


def test_only_local_runners_show_progress():
    assert is_local([]) and is_local(["--direct_num_workers=2"])
    assert is_local(["--runner=PortableRunner", "--job_endpoint=embed"])
    assert not is_local(["--runner=DataflowRunner", "--project=p"])
