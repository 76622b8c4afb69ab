"""Datasets, CSV/NPZ readers, seeded index splits, the feature scaler and label encoding.

Everything here is deterministic: the same config and seed give the same arrays bit for bit, and
splits are made by row index so that ``evaluate`` can rebuild exactly the rows a run trained on.
Every problem with the user's data is a one-line :class:`DataError` (exit code 2) that says what
was wrong, where, and what is allowed.

| module | what it holds |
|---|---|
| ``datasets`` | the built-in datasets and generators (``DATASETS``), ``load_raw`` |
| ``files`` | the CSV and NPZ readers (``read_table``) and ``RawData`` |
| ``preprocess`` | ``infer_task``, ``LabelEncoder``, ``Scaler`` |
| ``splits`` | ``split_indices`` and ``prepare`` (raw data to scaled, encoded splits) |
| ``features`` | predict-time inputs: ``read_features``, ``check_features`` |
| ``arrays`` | the caller's arrays: ``raw_from_arrays`` (with their split), ``write_npz`` |

scikit-learn is imported inside functions only: importing it costs about a second, and commands
such as ``mlptrain --help`` must not pay for it.
"""

from mlptrain.data.arrays import feature_names_of, raw_from_arrays, target_array, write_npz
from mlptrain.data.datasets import DATASETS, DataConfig, DatasetInfo, load_raw
from mlptrain.data.features import check_features, read_features
from mlptrain.data.files import RawData, read_table
from mlptrain.data.preprocess import (
    MAX_AUTO_CLASSES,
    SCALERS,
    TASKS,
    LabelEncoder,
    Scaler,
    infer_task,
)
from mlptrain.data.splits import (
    Prepared,
    Split,
    prepare,
    prepare_assigned,
    prepare_rows,
    split_indices,
    split_rows,
)

__all__ = [
    "DATASETS",
    "MAX_AUTO_CLASSES",
    "SCALERS",
    "TASKS",
    "DataConfig",
    "DatasetInfo",
    "LabelEncoder",
    "Prepared",
    "RawData",
    "Scaler",
    "Split",
    "check_features",
    "feature_names_of",
    "infer_task",
    "load_raw",
    "prepare",
    "prepare_assigned",
    "prepare_rows",
    "raw_from_arrays",
    "read_features",
    "read_table",
    "split_indices",
    "split_rows",
    "target_array",
    "write_npz",
]
