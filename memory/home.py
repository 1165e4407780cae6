"""The data directory (LIBROMIND_HOME): creation, identity checks and the single-server lock.

A home is ours when it holds ``libromind-home.json`` with our format. A non-empty directory without
it is *foreign*; one whose marker cannot be read is *corrupt*. Both are refused and never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["HomeError", "HomeInUse", "HOME_FORMAT", "MARKER", "ensure_home", "InstanceLock"]

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
