"""A study shared through a real PostgreSQL server: two sweep processes, one database.

The server is started by the fixture on 127.0.0.1 (a fresh cluster in a temporary folder,
trust authentication, a free port) and stopped after the tests. Without PostgreSQL's server
programs (Debian's ``postgresql`` package) the tests are skipped and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("psycopg")

pytestmark = [pytest.mark.slow, pytest.mark.server]

from tests.conftest import sweep_on_two_machines, tiny_iris  # noqa: E402

CONFIG = tiny_iris(epochs=3)


def _server_programs() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    programs = _server_programs()
    if programs is None:
        pytest.skip("PostgreSQL's server programs are not installed (apt-get install postgresql)")
    # PostgreSQL refuses to run as root: as root, the server runs as the postgres user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="mlptrain-pg-"))
    if as_user:
        shutil.chown(home, user="postgres")
    data, port = home / "data", _free_port()
    subprocess.run(
        [*as_user, str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -h 127.0.0.1 -k {home}"
    subprocess.run(
        [*as_user, str(programs / "pg_ctl"), "-D", str(data), "-o", options,
         "-l", str(home / "server.log"), "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(programs / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def test_two_processes_share_one_postgresql_study(postgres_url: str, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    ran = sweep_on_two_machines(config, postgres_url, tmp_path)
    records = {tid: r for machine in ran for tid, r in machine.items()}
    assert sum(len(machine) for machine in ran) == 7 and len(records) == 7  # N, none twice
    (name,) = optuna.get_all_study_names(storage=postgres_url)
    study = optuna.load_study(study_name=name, storage=postgres_url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == sorted(r["index"] for r in records.values())
    # The best trial is the one a single process would report for these trials: the least
    # val_loss among all seven records, wherever it ran.
    best = min(records.values(), key=lambda r: r["metrics"]["val_loss"])
    summaries = [json.loads((tmp_path / f"machine{i}" / "sweep.json").read_text()) for i in (0, 1)]
    last = max(summaries, key=lambda s: s["n_trials"])
    assert last["n_trials"] == 7
    assert last["best"]["trials"] == [best["trial"]]
    assert last["best"]["mean"] == best["metrics"]["val_loss"]
    assert study.best_trial.number == best["index"]
