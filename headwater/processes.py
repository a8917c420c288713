"""Stop a process and everything it started.

Prefect's process workers start each flow run in its own session, and the Prefect server
starts its own children, so signalling a process group misses them: these helpers walk
the process tree in /proc instead (Linux). Processes are identified by (pid, start time),
so a pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

Process = tuple[int, int]
"""(pid, start time in clock ticks since boot)."""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live (not zombie) process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19]))


def _alive(process: Process) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1]


def process_tree(pids: list[int]) -> set[Process]:
    """The live processes among `pids` and every live process below them."""
    children: dict[int, list[Process]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found = {(pid, stat[1]) for pid in pids if (stat := _stat(pid))}
    todo = [pid for pid, _ in found]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def signal_tree(processes: set[Process], signum: int) -> None:
    """Send `signum` to those of `processes` that still live."""
    for pid, _ in filter(_alive, processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and everything below it at once, as when its machine dies."""
    signal_tree(process_tree([pid]), signal.SIGKILL)


def stop_tree(popens: list[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """SIGTERM `popens` and every process below them; SIGKILL what is left after `grace`
    seconds; reap `popens`."""
    tree = process_tree([popen.pid for popen in popens])
    signal_tree(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for popen in popens:
            popen.poll()
        # Children started while stopping are stopped too.
        tree |= process_tree([pid for pid, start in tree if _alive((pid, start))])
        if not any(_alive(process) for process in tree):
            break
        time.sleep(0.2)
    signal_tree(tree, signal.SIGKILL)
    for popen in popens:
        popen.wait()
