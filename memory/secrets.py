"""The session-signing secret: configured (LIBROMIND_SESSION_SECRET) or generated once per home.

:func:`session_secret` is the only reader of ``settings.session_secret``: web session tokens, signed
order quotes and the LangGraph server's auth all sign or verify with what it returns.

* Configured: used as is; fewer than :data:`MIN_SECRET_BYTES` bytes is refused (also by ``Settings``).
* Not configured: a random secret is generated on first use and kept in ``LIBROMIND_HOME/session.secret``
  (mode 0600, written atomically, never overwritten), then reused by every later start and by every
  process sharing the home (``libromind serve``, ``langgraph dev``, the CLI).
* A secret file readable or writable by group or others is refused (not repaired): it may have leaked,
  so the fix is to rotate it (delete the file, or configure a new secret), which ends every session.

Rotation: changing the secret (or deleting the generated file) makes every token signed with the old one
stop working (sessions answer 401 and the widget starts a new one; pending order quotes must be
re-quoted). A running process keeps the secret it read: restart it after rotating.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
from pathlib import Path

from memory.settings import MIN_SECRET_BYTES, Settings

__all__ = ["MIN_SECRET_BYTES", "SECRET_FILE", "SecretError", "session_secret", "home_secret"]

SECRET_FILE = "session.secret"
_cache: dict[Path, str] = {}
_lock = threading.Lock()


class SecretError(RuntimeError):
    """The session secret cannot be used (too short, unreadable, or its file is not private)."""


def session_secret(settings: Settings) -> str:
    """The secret that signs session tokens and quotes (configured, else this home's generated one)."""
    configured = settings.session_secret
    if configured is not None and configured.get_secret_value().strip():
        value = configured.get_secret_value()
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise SecretError(
                f"LIBROMIND_SESSION_SECRET is too short ({len(value.encode())} bytes; at least "
                f"{MIN_SECRET_BYTES} are required). Generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value
    return home_secret(settings.home)


def home_secret(home: Path) -> str:
    """The generated secret kept in ``home`` (created with mode 0600 on first use)."""
    from memory.home import ensure_home

    home = ensure_home(home)  # a new home gets its marker first; a foreign directory is refused
    path = home / SECRET_FILE
    with _lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        try:
            value = _read(path)
        except FileNotFoundError:
            value = _create(path)
        _cache[path] = value
        return value


def _read(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise SecretError(f"Cannot read the session secret {path}: {exc.strerror}.") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretError(f"The session secret {path} is not a regular file; refusing to use it.")
        if st.st_uid != os.getuid():
            raise SecretError(f"The session secret {path} is owned by another user; refusing to use it.")
        if st.st_mode & 0o077:
            raise SecretError(
                f"The session secret {path} has mode {stat.S_IMODE(st.st_mode):04o}: other users may have "
                "read it. Refusing to use it. Rotate it: delete the file (a new one is generated at the "
                "next start; existing sessions end) or set LIBROMIND_SESSION_SECRET."
            )
        with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as fh:
            value = fh.read().strip()
    finally:
        os.close(fd)
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise SecretError(
            f"The session secret {path} is shorter than {MIN_SECRET_BYTES} bytes; delete it to generate "
            "a new one."
        )
    return value


def _create(path: Path) -> str:
    """Write a new secret atomically (temp file + link): concurrent first starts agree on one secret."""
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.write(fd, (value + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first: then use theirs
        except FileExistsError:
            return _read(path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return value


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
