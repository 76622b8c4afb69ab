"""Library errors name arguments; the CLI names the same things by their flags."""

from __future__ import annotations

import pytest

import mlptrain
from mlptrain.cli.app import flag_of
from mlptrain.errors import UserInputError


def test_arguments_in_library_text_flags_in_cli_text() -> None:
    error = UserInputError("«out» /x: already holds a.csv; pass «force=True» or use «init_from»")
    assert str(error) == "out /x: already holds a.csv; pass force=True or use init_from"
    assert (
        error.for_cli(flag_of) == "--out /x: already holds a.csv; pass --force or use --init-from"
    )


def test_fit_refuses_resume_with_out_in_argument_terms(tmp_path) -> None:
    with pytest.raises(UserInputError) as info:
        mlptrain.fit(resume=tmp_path, out=tmp_path / "o")
    message = str(info.value)
    assert message.startswith("resume continues a run in its own directory")
    assert "a config, init_from, out or overwrite" in message
    assert "--" not in message
    assert info.value.for_cli(flag_of).endswith("a CONFIG, --init-from, --out or --overwrite")


def test_sweep_jobs_with_scheduler_is_refused_by_the_library(tmp_path) -> None:
    from mlptrain.search import build_spec, run_sweep

    spec = build_spec(grid=["train.epochs=1,2"])
    with pytest.raises(UserInputError, match="^jobs applies to local runs; with scheduler"):
        run_sweep("configs/iris.yaml", spec, jobs=2, scheduler="tcp://127.0.0.1:1", out=tmp_path)
