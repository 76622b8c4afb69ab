"""`mlptrain serve`'s refusals at start: a damaged checkpoint or a bad option is one line and
exit 2, before any port is opened."""

from __future__ import annotations

import shutil
import socket

import pytest

from tests.conftest import assert_no_traceback


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_damaged_checkpoint_is_refused_before_serving(cli, digits_run, tmp_path):
    damaged = tmp_path / "damaged.safetensors"
    shutil.copy(digits_run.best_checkpoint, damaged)
    data = bytearray(damaged.read_bytes())
    data[-5] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = cli("serve", damaged, "--port", free_port())
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "integrity check failed" in result.output
    assert "serving" not in result.output


@pytest.mark.parametrize(
    ("option", "words"),
    [(["--workers", "0"], "--workers must be at least 1"), (["--max-rows", "0"], "--max-rows")],
)
def test_bad_options_exit_2(cli, digits_run, option, words):
    result = cli("serve", digits_run.dir, "--port", free_port(), *option)
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert words in result.output
