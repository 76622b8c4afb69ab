"""Crash-safe writes: round trips, injected I/O faults, JSON lines, temp files, run locks."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlptrain.errors import RunError
from mlptrain.store import atomic
from mlptrain.store.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    check_writable,
    clean_temp_files,
)
from mlptrain.store.jsonl import append_line, read_jsonl, truncate_jsonl
from mlptrain.store.lock import RunLock


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def _raiser(code: int):
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def test_atomic_write_bytes_round_trip_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    payload = bytes(range(256)) * 1000
    atomic_write_bytes(target, payload)
    assert target.read_bytes() == payload
    assert _temp_files(tmp_path) == []


def test_atomic_write_text_is_utf8_without_newline_translation(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    atomic_write_text(target, "α β\nγ\r\n")
    assert target.read_bytes() == "α β\nγ\r\n".encode()


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # os.write may write fewer bytes than asked; the rest must follow, not be dropped.
    monkeypatch.setattr(atomic, "_os_write", lambda fd, data: os.write(fd, bytes(data[:3])))
    target = tmp_path / "short.txt"
    atomic_write_bytes(target, b"0123456789")
    assert target.read_bytes() == b"0123456789"


@pytest.mark.parametrize("stage", ["_os_write", "_os_fsync", "_os_replace"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EACCES])
def test_fault_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, code: int
) -> None:
    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"previous contents")
    monkeypatch.setattr(atomic, stage, _raiser(code))
    with pytest.raises(RunError) as info:
        atomic_write_bytes(target, b"new contents that never land")
    assert target.read_bytes() == b"previous contents"
    assert _temp_files(tmp_path) == []
    message = str(info.value)
    assert str(target) in message
    assert os.strerror(code) in message
    assert "\n" not in message
    assert info.value.exit_code == 1
    assert isinstance(info.value.__cause__, OSError)


def test_fault_without_previous_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_os_write", _raiser(errno.ENOSPC))
    with pytest.raises(RunError, match="No space left on device"):
        atomic_write_text(tmp_path / "new.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_a_file_written_piece_by_piece_replaces_the_old_one_only_at_the_end(
    tmp_path: Path,
) -> None:
    target = tmp_path / "oof.csv"
    target.write_bytes(b"old")
    with atomic_writer(target) as write:
        write(b"a,b\n")
        assert target.read_bytes() == b"old"  # nothing lands before the block ends
        write(b"1,2\n")
    assert target.read_bytes() == b"a,b\n1,2\n"
    assert _temp_files(tmp_path) == []


def test_a_failed_piece_is_reported_as_writing_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "oof.csv"
    target.write_bytes(b"old")
    with pytest.raises(RunError) as info, atomic_writer(target) as write:
        write(b"a,b\n")
        monkeypatch.setattr(atomic, "_os_write", _raiser(errno.ENOSPC))
        write(b"1,2\n")
    assert str(info.value) == (
        f"could not write {target}: No space left on device (while writing it); the disk is "
        "full; free some space and run again; the previous file, if any, is unchanged"
    )
    assert target.read_bytes() == b"old"
    assert _temp_files(tmp_path) == []


def test_an_oserror_of_the_writers_own_block_passes_through_unlabelled(tmp_path: Path) -> None:
    """Reading another file inside the block fails: that is not a failure to write this one
    (it was once reported as "could not write oof.csv ... (while writing it)")."""
    target = tmp_path / "oof.csv"
    target.write_bytes(b"old")
    missing = tmp_path / "part-0.csv"
    with pytest.raises(FileNotFoundError) as info, atomic_writer(target) as write:
        write(b"a,b\n")
        missing.read_bytes()
    assert info.value.filename == str(missing)
    assert target.read_bytes() == b"old"
    assert _temp_files(tmp_path) == []


def test_directory_fsync_einval_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Some file systems refuse fsync on a directory; the write itself still succeeded.
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real_fsync(fd)

    monkeypatch.setattr(atomic, "_os_fsync", fsync)
    atomic_write_bytes(tmp_path / "a", b"ok")
    assert (tmp_path / "a").read_bytes() == b"ok"


def test_append_line_and_read_jsonl(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    assert read_jsonl(metrics) == []
    for epoch in range(3):
        append_line(metrics, json.dumps({"epoch": epoch, "loss": 1.0 / (epoch + 1)}))
    assert [r["epoch"] for r in read_jsonl(metrics)] == [0, 1, 2]
    assert metrics.read_bytes().endswith(b"\n")


def test_read_jsonl_ignores_partial_final_line(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0}\n{"epoch": 1}\n{"epoch": 2, "lo')
    assert read_jsonl(metrics) == [{"epoch": 0}, {"epoch": 1}]


def test_read_jsonl_ignores_corrupt_final_line_with_newline(tmp_path: Path) -> None:
    # A crash can also leave zero-filled blocks at the end of a file.
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0}\n\x00\x00\x00\n')
    assert read_jsonl(metrics) == [{"epoch": 0}]


def test_read_jsonl_reports_corrupt_middle_line(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0}\n{"epoch": 1\n{"epoch": 2}\n')
    with pytest.raises(RunError, match=r"metrics\.jsonl:2: corrupt line") as info:
        read_jsonl(metrics)
    assert info.value.exit_code == 1


def test_read_jsonl_reports_non_object_middle_line(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0}\n[1, 2]\n{"epoch": 2}\n')
    with pytest.raises(RunError, match=r":2: corrupt line \(a JSON list"):
        read_jsonl(metrics)


def test_append_after_crash_drops_the_fragment(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0}\n{"epoch": 1, "lo')
    append_line(metrics, json.dumps({"epoch": 1}))
    assert metrics.read_bytes() == b'{"epoch": 0}\n{"epoch": 1}\n'
    metrics.write_bytes(b'{"epoch": 0, "lo')
    append_line(metrics, json.dumps({"epoch": 0}))
    assert read_jsonl(metrics) == [{"epoch": 0}]


def test_append_line_refuses_line_breaks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        append_line(tmp_path / "m.jsonl", '{"a": 1}\n{"b": 2}')


def test_append_line_fault_is_a_run_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = tmp_path / "metrics.jsonl"
    monkeypatch.setattr(atomic, "_os_write", _raiser(errno.ENOSPC))
    with pytest.raises(RunError, match="could not append to .*No space left on device"):
        append_line(metrics, "{}")


def test_truncate_jsonl_keeps_lines_byte_for_byte(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"epoch": 0,  "x": 1}\n{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3, "l')
    kept = truncate_jsonl(metrics, lambda record: record["epoch"] <= 1)
    assert kept == [{"epoch": 0, "x": 1}, {"epoch": 1}]
    assert metrics.read_bytes() == b'{"epoch": 0,  "x": 1}\n{"epoch": 1}\n'
    assert truncate_jsonl(tmp_path / "missing.jsonl", lambda record: True) == []
    assert not (tmp_path / "missing.jsonl").exists()


def test_clean_temp_files(tmp_path: Path) -> None:
    leftovers = [tmp_path / ".model.safetensors.tmp-123-abcd", tmp_path / ".report.md.tmp-9-ff"]
    for path in leftovers:
        path.write_bytes(b"half written")
    keep = [tmp_path / "model.safetensors", tmp_path / ".lock", tmp_path / "notes.tmp-1"]
    for path in keep:
        path.write_bytes(b"keep")
    (tmp_path / ".dir.tmp-1-2").mkdir()  # only files are ours to remove
    removed = clean_temp_files(tmp_path)
    assert sorted(removed) == sorted(leftovers)
    assert all(path.exists() for path in keep)
    assert (tmp_path / ".dir.tmp-1-2").is_dir()
    assert clean_temp_files(tmp_path / "missing") == []


def test_check_writable_creates_directory(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "a"
    check_writable(out)
    assert out.is_dir()
    assert list(out.iterdir()) == []  # the probe is gone


def test_check_writable_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub"
    with pytest.raises(RunError) as info:
        check_writable(out)
    assert f"output directory {out} cannot be created" in str(info.value)
    assert os.strerror(errno.ENOTDIR) in str(info.value)
    assert info.value.exit_code == 1


def test_check_writable_on_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="exists and is not a directory"):
        check_writable(tmp_path / "file")


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_check_writable_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    # Tests run as root, which chmod cannot stop, so the refusal is injected.
    monkeypatch.setattr(atomic, "_os_open", _raiser(code))
    with pytest.raises(RunError) as info:
        check_writable(tmp_path)
    message = str(info.value)
    assert message.startswith(f"output directory {tmp_path} is not writable: {os.strerror(code)}")
    assert _temp_files(tmp_path) == []


def _lock_script(directory: Path, hold: bool) -> str:
    return textwrap.dedent(
        f"""
        import sys, time
        from mlptrain.store.lock import RunLock
        from mlptrain.errors import RunError
        lock = RunLock({str(directory)!r})
        try:
            lock.acquire()
        except RunError as exc:
            print("REFUSED", exc, flush=True)
            sys.exit(3)
        print("LOCKED", flush=True)
        if {hold!r}:
            time.sleep(60)
        """
    )


def _try_lock_in_child(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _lock_script(directory, hold=False)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_run_lock_refuses_second_process(tmp_path: Path) -> None:
    with RunLock(tmp_path) as lock:
        assert lock.held
        child = _try_lock_in_child(tmp_path)
        assert child.returncode == 3, child.stderr
        assert (
            f"run directory {tmp_path} is in use by another mlptrain process (pid {os.getpid()})"
            in child.stdout
        )
    assert not lock.held
    child = _try_lock_in_child(tmp_path)
    assert child.returncode == 0 and "LOCKED" in child.stdout, child.stderr


def test_run_lock_in_same_process_is_refused(tmp_path: Path) -> None:
    # flock belongs to the open file, so a second RunLock conflicts even in one process.
    with RunLock(tmp_path), pytest.raises(RunError, match="in use by another") as info:
        RunLock(tmp_path).acquire()
    assert info.value.exit_code == 1
    with RunLock(tmp_path):
        pass


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_run_lock_freed_when_holder_dies(tmp_path: Path, how: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _lock_script(tmp_path, hold=(how == "sigkill"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "LOCKED"
        if how == "sigkill":
            with pytest.raises(RunError, match=rf"\(pid {holder.pid}\)"):
                RunLock(tmp_path).acquire()
            holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with RunLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
