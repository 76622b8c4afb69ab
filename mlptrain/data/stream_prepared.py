"""A streamed table (``data.stream: true``) as the ``Prepared`` data a run is built on: the
encoder, classes and target scaler of the first pass (``plan_stream``), no rows in memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.data.row_hash import Placement
from mlptrain.data.splits import Prepared, Split, identity_scaler
from mlptrain.data.stream_plan import plan_stream


def prepare_stream(
    data_cfg: Any, *, seed: int, dtype: np.dtype, placement: Placement | None = None
) -> Prepared:
    """``placement``: a cross-validation fold's parts (default: the config's, as a fit)."""
    plan = plan_stream(data_cfg, seed=seed, placement=placement)
    width = plan.encoder.width
    empty_y = np.zeros(0, dtype=np.int64 if plan.labels is not None else dtype)
    n_outputs = plan.labels.n_classes if plan.labels is not None else 1
    if plan.target_scaler is not None and plan.target_scaler.shift is not None:
        n_outputs = len(np.atleast_1d(plan.target_scaler.shift))
    kind = "Parquet" if plan.stream.delimiter is None else "CSV"
    return Prepared(
        task=plan.task,
        train=Split(np.zeros((0, width), dtype=dtype), empty_y),
        val=None,
        test=None,
        encoder=plan.labels,
        scaler=identity_scaler(width),
        feature_names=plan.encoder.feature_names,
        n_features=width,
        n_outputs_hint=n_outputs,
        source=f"{kind} {data_cfg.path} (target column {plan.target!r}, streamed)",
        target_scaler=plan.target_scaler,
        fingerprint=plan.fingerprint(),
        table=plan.encoder,
        columns=plan.columns,
        notes=list(plan.notes),
        stream=plan,
    )
