from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from memory.home import MARKER, HomeError, HomeInUse, InstanceLock, Leases, ensure_home


def test_new_home_is_created_with_marker(tmp_path: Path) -> None:
    home = ensure_home(tmp_path / "h")
    assert json.loads((home / MARKER).read_text())["format"] == 1
    assert ensure_home(home) == home  # reopening our own home is fine


def test_foreign_home_refused_and_untouched(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(HomeError, match="not a libromind data directory"):
        ensure_home(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_corrupt_home_refused_and_untouched(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("{not json")
    (tmp_path / "pg").mkdir()
    with pytest.raises(HomeError, match="corrupt"):
        ensure_home(tmp_path)
    assert (tmp_path / MARKER).read_text() == "{not json"


def test_home_that_is_a_file_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(HomeError, match="not a directory"):
        ensure_home(f)


def test_newer_format_refused(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text(json.dumps({"format": 99}))
    with pytest.raises(HomeError, match="newer"):
        ensure_home(tmp_path)


def _hold(home: str, ready, done) -> None:  # type: ignore[no-untyped-def]
    lock = InstanceLock(Path(home))
    lock.acquire("libromind serve on 127.0.0.1:8000")
    ready.set()
    done.wait(10)


def test_second_instance_names_the_holder(tmp_path: Path) -> None:
    home = ensure_home(tmp_path / "h")
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(home), ready, done))
    proc.start()
    try:
        assert ready.wait(20)
        with pytest.raises(HomeInUse) as err:
            InstanceLock(home).acquire("second")
        assert str(home) in str(err.value)
        assert f"pid {proc.pid}" in str(err.value)
        assert "127.0.0.1:8000" in str(err.value)
    finally:
        done.set()
        proc.join(10)
    lock = InstanceLock(home)
    lock.acquire("after")  # released when the holder exits
    lock.release()


def test_leases_ignore_dead_and_reused_pids(tmp_path: Path) -> None:
    leases = Leases(tmp_path / "pg.leases")
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_sleep)
    proc.start()
    with leases.locked():
        mine = leases.add("test")
        other = leases.add("child", pid=proc.pid)
        assert {h.pid for h in leases.holders()} == {mine.pid, other.pid}
    proc.kill()
    proc.join(10)
    # a holder that died without cleaning up (SIGKILL) is stale and pruned
    with leases.locked():
        assert [h.pid for h in leases.holders()] == [mine.pid]
    # a lease naming our pid with another start time (pid reused) is stale too
    (leases.directory / f"{mine.pid}-1.00.json").write_text(json.dumps({"pid": mine.pid, "started": 1.0}))
    with leases.locked():
        assert [h.started for h in leases.holders()] == [mine.started]
        leases.remove(mine)
        assert leases.holders() == []


def _sleep() -> None:
    import time

    time.sleep(30)
