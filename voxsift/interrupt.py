"""Ctrl-C on the command line: one line, exit 130, no traceback from any thread or worker.

Stopping a run at any point is safe, as a SIGKILL is (README, Crash-safe), so nothing needs to
unwind; letting a KeyboardInterrupt unwind is what does harm: raised inside a Beam step it comes
back as a step failure with a page of traceback, and Beam's worker processes, which get the
terminal's Ctrl-C too, each print their own.

So before any other thread or worker process exists, SIGINT is blocked in this thread (threads
created later inherit the mask) and ignored (worker processes inherit that through the shell Beam
starts them with, and stay quiet). A watcher thread takes the signal with ``sigwait`` (Linux keeps
a signal that is blocked even while it is ignored), prints the line, silences stderr (the runner
would report each worker's death), kills the worker processes and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


def exit_quietly_on_interrupt(message: str) -> None:
    """From now on, Ctrl-C prints ``message`` and ends the process with status 130."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        print(message, file=sys.stderr, flush=True)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())  # the runner's last words
        _kill_descendants()
        os._exit(130)

    threading.Thread(target=wait, name="voxsift-interrupt", daemon=True).start()


def _kill_descendants() -> None:
    """SIGKILL every process below this one (Beam's worker processes and their shells)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
                parents[int(entry)] = int(stat.rsplit(b")", 1)[1].split()[1])
    below, frontier = [], [os.getpid()]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        below += children
        frontier = children
    for pid in below:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
