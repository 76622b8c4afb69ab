"""Commented starter configs for ``mlptrain init``: one per built-in dataset, or for a file.

The template is text (not a dumped dict) so that it keeps its comments; ``write_starter``
checks that it validates before writing it atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlptrain.config.vocabulary import TASK_LOSSES
from mlptrain.errors import UserInputError


def starter_config(
    dataset: str,
    *,
    name: str,
    data_path: str | None = None,
    task: str | None = None,
    target: str | None = None,
) -> str:
    """The YAML text of a starter config; ``data_path`` (relative to the config) for files.

    ``target`` is the target column of a CSV (written as a comment when it is the default,
    the last column, so the user sees which one was picked).
    """
    from mlptrain.config.messages import suggest
    from mlptrain.data import DATASETS

    info = DATASETS.get(dataset)
    if info is None:
        raise UserInputError(
            f"dataset {dataset!r}: unknown dataset; {suggest(dataset, list(DATASETS))} "
            "(see mlptrain datasets)"
        )
    if info.kind == "file" and not data_path:
        raise UserInputError(
            f"dataset {dataset}: a file dataset needs a data file (the {dataset.upper()} to "
            "train on)"
        )
    if info.kind != "file" and data_path:
        raise UserInputError(
            f"a data file is only for the file datasets csv and npz; {dataset!r} is built in"
        )
    if target is not None and dataset != "csv":
        raise UserInputError(
            f"a target column is only for dataset csv; {dataset!r} has its target built in"
        )
    hidden, epochs, batch, lr = info.starter
    task = task or info.task
    regression = task == "regression"
    lines = [
        f"# Starter config for {dataset}: {info.description}.",
        f"# Train it with:  mlptrain fit {name}.yaml",
        "# Every key is documented in the README's config reference.",
        f"name: {name}",
        "seed: 0                    # same config + seed = the same weights, bit for bit",
        "data:",
        f"  dataset: {dataset}",
    ]
    if info.kind == "file":
        lines.append(f"  path: {data_path}   # relative to this config file")
        if dataset in ("csv", "parquet"):
            if target is not None:
                lines.append(f"  target: {_yaml_text(target)}   # the target column")
            else:
                lines.append(
                    "  # target: label          # the target column; default: the last one"
                )
            lines.append("  # columns: {customer_id: id}   # numeric | categorical | ignore | id")
        if task in ("classification", "regression"):
            lines.append(f"  task: {task}   # detected from the target when this file was written")
    lines += [
        "  test_size: 0.2           # share held out for the final test metrics",
        "  val_size: 0.15           # share of the rest used to watch for overfitting",
        "  scale: standard          # features standardised on the training split only",
        "model:",
        "  init: auto               # He before ReLU, Glorot before tanh/sigmoid and the output",
        "  layers:",
        f"    - {{type: linear, units: {hidden}}}",
        "    - relu",
        "    - {type: dropout, p: 0.1}   # a little regularisation; remove for tiny datasets",
        f"    - {{type: linear, units: {hidden}}}",
        "    - relu",
        "    - {type: linear}            # units left out: as many outputs as the data needs",
        f"  loss: {TASK_LOSSES['regression' if regression else 'classification']}",
        "train:",
        f"  epochs: {epochs}",
        f"  batch_size: {batch}",
        "  dtype: float32",
        f"  optimizer: {{type: adam, lr: {lr:g}}}",
        "  schedule: constant",
        "  # Stops when val_loss has not improved for `patience` epochs; keeps the best weights.",
        "  early_stopping: {monitor: val_loss, patience: 20}",
        "checkpoint:",
        "  every: 1",
    ]
    return "\n".join(lines) + "\n"


def _yaml_text(value: str) -> str:
    """A column name as a YAML string scalar (quoted, so 'no' or '2024' stay text)."""
    import json

    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def tabular_starter(
    name: str, *, data_path: str, dataset: str, target: str, task: str | None
) -> str:
    """The tabular preset written out in full for one table, with its comments: the config
    ``mlptrain fit TABLE --target COL`` trains, to read and edit."""
    from mlptrain.config.presets import preset_text

    data = [
        "data:",
        f"  dataset: {dataset}",
        f"  path: {data_path}   # relative to this config file",
        f"  target: {_yaml_text(target)}   # the column to predict",
        "  # columns: {customer_id: id}   # numeric | categorical | ignore | id",
    ]
    if task is not None:
        data.append(f"  task: {task}")
    body = preset_text("tabular").replace("data:\n", "\n".join(data) + "\n", 1)
    header = [
        f"# The tabular preset for {data_path} ('mlptrain fit TABLE --target COL' trains this).",
        f"# Train it with:  mlptrain fit {name}.yaml",
        f"name: {name}",
        "seed: 0                    # same config + seed = the same weights, bit for bit",
    ]
    return "\n".join(header) + "\n" + body


def write_starter(
    path: str | Path,
    dataset: str | None,
    *,
    data: str | Path | None = None,
    target: str | None = None,
    force: bool = False,
) -> Path:
    """Write a starter config for ``dataset`` to ``path`` (refuses to overwrite unless force).

    For a CSV the target column is ``target``, or the file's last column when it is None;
    either way the config names it, so the user sees which column the model will learn.
    Without a dataset, ``data`` must be a table and ``target`` its column: the config is the
    tabular preset written out (:func:`tabular_starter`).
    """
    from mlptrain.config import parse_config
    from mlptrain.store.atomic import atomic_write_text

    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory; give the config file to write")
    if path.exists() and not force:
        raise UserInputError(f"{path}: already exists; pass «force=True» to overwrite it")
    if not path.parent.is_dir():
        raise UserInputError(f"{path}: directory {path.parent} does not exist")
    name = path.stem.replace(" ", "_") or "model"
    if dataset is None:
        text = _tabular_text(path, name, data, target)
        parse_config(text, source=str(path), base_dir=path.parent.resolve(), default_name=name)
        atomic_write_text(path, text)
        return path
    data_path = None
    task = None
    if data is not None:
        # dataset, data and target agree
        starter_config(dataset, name="check", data_path=str(data), target=target)
        data = Path(data)
        if not data.is_file():
            raise UserInputError(f"data file {data}: no such file")
        data_path = os.path.relpath(data.resolve(), path.parent.resolve())
        task, target = _detect_task(dataset, data, target)
    elif target is not None:
        starter_config(dataset, name="check", target=target)  # names the mismatch
    text = starter_config(dataset, name=name, data_path=data_path, task=task, target=target)
    # the template must be a valid config before it is written
    parse_config(text, source=str(path), base_dir=path.parent.resolve(), default_name=name)
    atomic_write_text(path, text)
    return path


def _tabular_text(path: Path, name: str, data: str | Path | None, target: str | None) -> str:
    from mlptrain.config.presets import table_config

    if data is None:
        raise UserInputError("give «dataset» NAME, or «data» TABLE with «target» COL")
    source = table_config(data, target=target)  # a table, and a target
    data = Path(data)
    if not data.is_file():
        raise UserInputError(f"data file {data}: no such file")
    dataset = source["data"]["dataset"]
    task, target = _detect_task(dataset, data, target)
    return tabular_starter(
        name,
        data_path=os.path.relpath(data.resolve(), path.parent.resolve()),
        dataset=dataset,
        target=str(target),
        task=task,
    )


def _detect_task(dataset: str, data: Path, target: str | None) -> tuple[str | None, str | None]:
    """(task, target column) of a data file, so the starter picks the right loss and target.

    Reading the file also checks that ``target`` is one of its columns (with a did-you-mean).
    """
    from types import SimpleNamespace

    from mlptrain.data import DATASETS, load_raw

    info = DATASETS.get(dataset)
    if info is None or info.kind != "file":
        return None, target
    spec = SimpleNamespace(
        dataset=dataset, params={}, path=data, target=target, task="auto",
        test_size=0.2, val_size=0.15, scale="standard",
    )  # fmt: skip
    raw = load_raw(spec, seed=0)
    if dataset == "csv" and target is None:
        target = raw.target_name
    return raw.task, target
