"""A trained model ready to predict from raw features: ``load`` and ``Predictor``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data import LabelEncoder, Scaler, Split, check_features
from mlptrain.data.coded import CodedMatrix
from mlptrain.data.encoding import TableEncoder
from mlptrain.data.frame import DEFAULT_NA_VALUES
from mlptrain.data.matching import DEFAULT_TARGET, placeholder_names, select_features
from mlptrain.errors import CheckpointError, DataError, UserInputError
from mlptrain.session.directory import resolve_checkpoint
from mlptrain.session.threshold import Threshold, apply_threshold
from mlptrain.store.run_meta import RunCheckpoint, RunMeta, load_run_checkpoint
from mlptrain.training.run_state import config_from_checkpoint, load_model_state, model_tensors
from mlptrain.training.setup import build_stack
from mlptrain.training.trained import TrainedModel


class Predictor:
    """A trained model with its scaler and labels: predictions from raw, unscaled features."""

    def __init__(
        self,
        trained: TrainedModel,
        scaler: Scaler,
        encoder: LabelEncoder | None,
        meta: RunMeta,
        table: TableEncoder | None = None,
    ) -> None:
        self.trained = trained
        self.model = trained.model
        self.scaler = scaler
        self.encoder = encoder
        self.meta = meta
        # a table run: raw columns in (by name), imputed, one-hot encoded and scaled as in training
        self.table = table
        # per categorical column, rows of the last call holding categories unseen in training
        self.unseen: dict[str, int] = {}
        self.feature_names: list[str] = list(meta.feature_names)
        self.task: str = meta.task
        # lines for the user from the last call: columns taken by position, columns ignored
        self.notes: list[str] = []
        # a binary classifier's decision threshold from the run's threshold.json (see
        # mlptrain.session.threshold), and why the run's file was not applied, if it was not
        self.threshold: Threshold | None = None
        self.threshold_note: str | None = None

    @property
    def input_names(self) -> list[str]:
        """The model's feature names in training order (``x0, x1, ...`` if it recorded none)."""
        n_features = self.meta.n_features
        names = self.feature_names
        return list(names) if len(names) == n_features else placeholder_names(n_features)

    @property
    def target_name(self) -> str:
        """The label column a labelled file is read by: the run's ``data.target``, else
        ``"target"`` (scikit-learn's name for the labels of its datasets as a frame)."""
        return str(self.meta.data_config.get("target") or DEFAULT_TARGET)

    @property
    def classes(self) -> np.ndarray | None:
        return None if self.encoder is None else self.encoder.classes

    def _inputs(self, X: Any) -> np.ndarray | CodedMatrix:
        if self.table is not None:
            return self._table_inputs(X)
        # one rule with ``mlptrain predict``: a DataFrame's columns by name, an array by position
        X, match = select_features(
            X, feature_names=self.input_names, n_features=len(self.input_names), source="X"
        )
        self.notes = list(match.notes)
        X = check_features(
            X,
            n_features=len(self.input_names),
            feature_names=self.input_names,
            source="Predictor",
        )
        return self.scaler.transform(X, self.model.dtype)

    def _table_inputs(self, X: Any) -> CodedMatrix:
        from mlptrain.data.tables import Table, table_from_mapping

        assert self.table is not None
        if not isinstance(X, Table):
            data = self.meta.data_config
            X = table_from_mapping(
                X,
                names=self.table.features,
                text_columns=[*self.table.text_inputs, *self.table.ids],
                na_values=data.get("na_values") or DEFAULT_NA_VALUES,
                source="Predictor",
            )
        # one-hot columns kept as codes: predictions expand them in chunks (data.coded)
        encoded, self.unseen = self.table.encode(X, None, self.model.dtype)
        return encoded

    def labelled(self, X: Any, y: Any) -> Split:
        """Raw features and labels as the model was trained on them: features scaled by the
        saved scaler, labels mapped to class indices (an unknown label is a DataError naming
        it) or regression targets as float64 (n, n_targets)."""
        inputs = self._inputs(X)
        y = np.asarray(y)
        if len(y) != len(inputs):
            raise DataError(f"X has {len(inputs)} rows but y has {len(y)}")
        if self.encoder is not None:
            return Split(inputs, self.encoder.encode(y))
        if y.dtype.kind not in "biuf":
            raise DataError(f"the targets hold {y.dtype} values; this model does regression")
        return Split(inputs, y.reshape(len(y), -1).astype(np.float64))

    def predict(self, X: Any) -> np.ndarray:
        """Original class labels (classification) or predicted values (regression)."""
        out = self.trained.predict(self._inputs(X))
        if self.encoder is not None:
            return self.encoder.decode(out)
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out

    def threshold_notes(self) -> list[str]:
        """What a user should hear about the decision threshold with the predictions."""
        if self.threshold is not None:
            return [f"labels decided by the run's {self.threshold.describe()}"]
        return [self.threshold_note] if self.threshold_note else []

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities (n, classes), columns in the order of ``classes``."""
        if self.encoder is None:
            raise UserInputError("predict_proba needs a classifier; this model does regression")
        return self.trained.predict_proba(self._inputs(X))

    def __repr__(self) -> str:
        return f"Predictor(task={self.task}, features={self.meta.n_features}, model={self.model!r})"


def load(path: str | Path) -> Predictor:
    """A Predictor from a run directory (its best checkpoint) or a checkpoint file.

    Only the model is built: the data is not loaded again.

    Parameters
    ----------
    path : path
        A run directory or a ``.safetensors`` checkpoint; its SHA-256 is verified first.

    Returns
    -------
    Predictor
        ``predict`` / ``predict_proba`` on arrays, DataFrames or column mappings, by the rule
        of ``mlptrain predict`` (columns matched by name, a table model's raw columns).

    Raises
    ------
    CheckpointError
        A missing, damaged, foreign or re-signed checkpoint (exit 2 on the CLI).
    """
    ckpt = load_run_checkpoint(resolve_checkpoint(path))
    cfg = config_from_checkpoint(ckpt)
    meta = ckpt.meta
    model = build_stack(
        cfg,
        n_inputs=meta.n_features,
        n_outputs=output_units_from(ckpt),
        rng=np.random.default_rng(0),
    )
    load_model_state(model, model_tensors(ckpt.tensors), source=str(ckpt.path))
    target_state = None
    if "target.shift" in ckpt.tensors:
        target_state = {
            "scaler.shift": ckpt.tensors["target.shift"],
            "scaler.scale": ckpt.tensors["target.scale"],
        }
    model.eval()
    scaler = Scaler.from_state(
        cfg.data.scale, {k: v for k, v in ckpt.tensors.items() if k.startswith("scaler.")}
    )
    encoder = LabelEncoder.from_list(meta.classes) if meta.classes is not None else None
    table = None
    if meta.table is not None:
        table = TableEncoder.from_state(meta.table, str(ckpt.path))
    trained = TrainedModel.from_target_state(model, target_state)
    predictor = Predictor(trained, scaler, encoder, meta, table)
    predictor.threshold, predictor.threshold_note = apply_threshold(trained, ckpt)
    return predictor


def output_units_from(ckpt: RunCheckpoint) -> int:
    """The width of the last linear layer, read from the stored weights."""
    weights = [k for k in ckpt.tensors if k.startswith("model.") and k.endswith(".W")]
    if not weights:
        raise CheckpointError(f"{ckpt.path}: holds no linear layer weights")
    last = max(weights, key=lambda k: int(k.split(".")[1]))
    return int(ckpt.tensors[last].shape[1])
