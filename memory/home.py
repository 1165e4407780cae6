"""The data directory (LIBROMIND_HOME): creation, identity checks and the single-server lock.

A home is ours when it holds ``libromind-home.json`` with our format. A non-empty directory without
it is *foreign*; one whose marker cannot be read is *corrupt*. Both are refused and never touched.

``Leases`` records which live processes share a resource of the home (the embedded PostgreSQL): one file
per process, named by pid and process start time, so a holder that crashed (or whose pid was reused) is
recognised as stale and ignored.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

__all__ = [
    "HomeError",
    "HomeInUse",
    "HOME_FORMAT",
    "MARKER",
    "ensure_home",
    "InstanceLock",
    "Holder",
    "Leases",
    "process_started",
]

MARKER = "libromind-home.json"
HOME_FORMAT = 1


class HomeError(RuntimeError):
    """LIBROMIND_HOME cannot be used (foreign, corrupt, or not a directory)."""


class HomeInUse(RuntimeError):
    """Another libromind server already holds this data directory."""


def ensure_home(home: Path) -> Path:
    """Create a new home or verify an existing one is ours. Never overwrites anything."""
    home = home.expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise HomeError(f"LIBROMIND_HOME {home} exists and is not a directory; refusing to use it.")
    marker = home / MARKER
    if home.exists() and any(home.iterdir()):
        if not marker.exists():
            raise HomeError(
                f"LIBROMIND_HOME {home} is not empty and is not a libromind data directory "
                f"(no {MARKER}). Refusing to use or overwrite it; choose another LIBROMIND_HOME."
            )
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            fmt = int(meta["format"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HomeError(
                f"LIBROMIND_HOME {home} looks corrupt: {MARKER} is unreadable ({exc}). "
                "Refusing to use or overwrite it; restore it from backup or choose another LIBROMIND_HOME."
            ) from exc
        if fmt > HOME_FORMAT:
            raise HomeError(
                f"LIBROMIND_HOME {home} has format {fmt}, newer than this libromind ({HOME_FORMAT}); upgrade libromind."
            )
        return home
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"format": HOME_FORMAT, "created": time.time()}), encoding="utf-8")
    os.replace(tmp, marker)
    return home


@dataclass
class InstanceLock:
    """An exclusive, process-lifetime lock on ``home/server.lock`` (released by the OS on exit)."""

    home: Path
    _fh: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self.home / "server.lock"

    def acquire(self, what: str) -> None:
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise HomeInUse(
                f"The data directory {self.home} is in use by {holder}. Stop it first, or set "
                "LIBROMIND_HOME to another directory."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} ({what})")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def process_started(pid: int) -> float | None:
    """The start time of live process ``pid`` (None when it is gone or a zombie)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


@dataclass(frozen=True)
class Holder:
    """One process holding a lease: ``pid``, its start time and what it is (``libromind serve ...``)."""

    pid: int
    started: float
    what: str

    @property
    def name(self) -> str:
        return f"{self.pid}-{self.started:.2f}"

    def alive(self) -> bool:
        started = process_started(self.pid)
        return started is not None and abs(started - self.started) < 1.0


class Leases:
    """The live processes sharing one resource, one file each in ``directory`` (see the module doc).

    Change them only inside ``locked()``: an exclusive ``flock`` on ``directory/.lock`` that also
    serialises starting and stopping the resource across processes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def locked(self, timeout: float = 120.0) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+", encoding="utf-8") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise HomeInUse(
                            f"{self.directory} stayed locked for {timeout:g} s (another process is starting or "
                            "stopping the embedded PostgreSQL); try again."
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def holders(self, *, prune: bool = True) -> list[Holder]:
        """The live holders; stale lease files are removed when ``prune``."""
        out: list[Holder] = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("*.json")):
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
                holder = Holder(int(meta["pid"]), float(meta["started"]), str(meta.get("what", "")))
            except (OSError, ValueError, KeyError, TypeError):
                holder = None
            if holder is not None and holder.alive():
                out.append(holder)
            elif prune:
                path.unlink(missing_ok=True)
        return out

    def add(self, what: str, pid: int | None = None) -> Holder:
        pid = os.getpid() if pid is None else pid
        started = process_started(pid)
        if started is None:
            raise HomeError(f"process {pid} is not running; it cannot hold a lease")
        holder = Holder(pid, started, what)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{holder.name}.tmp"
        tmp.write_text(json.dumps({"pid": pid, "started": started, "what": what}), encoding="utf-8")
        os.replace(tmp, self.directory / f"{holder.name}.json")
        return holder

    def remove(self, holder: Holder) -> None:
        (self.directory / f"{holder.name}.json").unlink(missing_ok=True)
