"""One writer per run folder.

Training and resuming hold `<run>/.lock`: an OS file lock (`flock`, released by the kernel when
the holder dies, even by kill -9) plus, inside the file, who holds it (host, pid) and a heartbeat
the holder refreshes while it trains. A second writer is refused with "this run is still training
(pid 1234 on this machine)". The heartbeat covers what an OS lock cannot: a run folder shared with
another machine (a network disk, a container restarted under a new host name). A lock whose holder
is dead, or whose heartbeat from another host is older than STALE_SECONDS, is taken over, and the
run reads as interrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import RunStoreError

FILENAME = ".lock"
STALE_SECONDS = 180.0  # a heartbeat from another host older than this: that writer is gone
HEARTBEAT_SECONDS = 10.0  # how often a writer refreshes it


def _holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        record = json.loads(os.read(fd, 4096) or b"{}")
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    """'pid 1234 on this machine', or 'pid 1234 on host lab-2'."""
    where = "this machine" if holder.get("host") == socket.gethostname() else f"host {holder.get('host', '?')}"
    return f"pid {holder.get('pid', '?')} on {where}"


def fresh_elsewhere(holder: dict, now: float | None = None) -> bool:
    """True if another host's writer refreshed its heartbeat recently (so it may still be training)."""
    if not holder or holder.get("host") == socket.gethostname():
        return False
    beat = holder.get("heartbeat")
    return isinstance(beat, int | float) and (now or time.time()) - beat < STALE_SECONDS


class RunLock:
    """The write lock of one run folder, held from `acquire` to `release`."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / FILENAME
        self.fd: int | None = None
        self._last_beat = 0.0

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunStoreError(f"this run is still training ({describe(holder)})") from None
        holder = _holder(fd)
        if fresh_elsewhere(holder):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            age = time.time() - holder["heartbeat"]
            raise RunStoreError(f"this run is still training ({describe(holder)}, last heard {age:.0f} s ago)")
        self.fd = fd
        self.heartbeat(force=True)
        return self

    def heartbeat(self, force: bool = False) -> None:
        """Say this writer is alive; cheap to call often (writes at most every HEARTBEAT_SECONDS)."""
        now = time.time()
        if self.fd is None or (not force and now - self._last_beat < HEARTBEAT_SECONDS):
            return
        self._last_beat = now
        record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": now}).encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, record, 0)
        except OSError:
            pass  # a full disk must not stop training; the OS lock still holds

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def writer(folder: str | os.PathLike) -> dict | None:
    """Who is writing this run folder now ({'host', 'pid', ...}), or None if nobody is."""
    path = Path(folder) / FILENAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        holder = _holder(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return holder or {"host": socket.gethostname(), "pid": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return holder if fresh_elsewhere(holder) else None
    finally:
        os.close(fd)
