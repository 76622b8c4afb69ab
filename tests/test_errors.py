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


def test_starter_refusal_speaks_of_its_force_argument(tmp_path) -> None:
    from mlptrain.config.starter import write_starter

    target = tmp_path / "c.yaml"
    target.write_text("x: 1\n")
    with pytest.raises(UserInputError) as info:
        write_starter(target, "iris")
    assert str(info.value) == f"{target}: already exists; pass force=True to overwrite it"
    assert info.value.for_cli(flag_of) == f"{target}: already exists; pass --force to overwrite it"


def test_score_file_names_its_data_argument(tmp_path) -> None:
    from mlptrain.serving.score import score_file

    run = mlptrain.fit(
        "configs/iris.yaml", overrides=["train.epochs=1"], out=tmp_path / "run",
        figures=False, html=False,
    )  # fmt: skip
    with pytest.raises(UserInputError) as info:
        score_file(run.dir, tmp_path / "rows.xlsx")
    assert str(info.value).startswith(f"data_path {tmp_path / 'rows.xlsx'}: unsupported file type")
    assert info.value.for_cli(flag_of).startswith(f"--data {tmp_path / 'rows.xlsx'}: unsupported")


def test_an_override_is_named_as_an_override_by_the_library_and_as_set_by_the_cli(
    tmp_path,
) -> None:
    from typer.testing import CliRunner

    from mlptrain.cli import app
    from mlptrain.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        mlptrain.fit("configs/iris.yaml", overrides=["train.batch_size=0"], out=tmp_path / "a")
    expected = "train.batch_size: 0 is not allowed; must be an integer from 1 to 10000000"
    assert str(info.value) == f"override train.batch_size=0: {expected}"
    assert info.value.problems == [f"override train.batch_size=0: {expected}"]
    with pytest.raises(ConfigError, match=r"^override train\.epochs: no '=' in the override"):
        mlptrain.fit("configs/iris.yaml", overrides=["train.epochs"], out=tmp_path / "b")

    result = CliRunner().invoke(
        app,
        ["fit", "configs/iris.yaml", "--set", "train.batch_size=0", "--out", str(tmp_path / "c")],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: --set train.batch_size=0: {expected}"]
    assert not (tmp_path / "c").exists()
