"""Export a trained model for use without mlptrain: NumPy (a standalone script) or ONNX.

``export_numpy`` writes a folder with ``weights.npz`` (layers, scaler, labels; plain arrays
only, labels as a string array, so ``np.load(allow_pickle=False)`` reads it) and a standalone
``predict.py`` (the module standalone_predict.py, copied) that needs only NumPy and reproduces ``Predictor.predict`` exactly: the same
scaling (computed in float64, cast to the model's dtype), the same forward in the same dtype,
the same head. ``export_onnx`` needs the optional extra ``mlptrain[onnx]``; its graph takes raw
features and outputs class probabilities (classifiers) or predictions (regression).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mlptrain.errors import UserInputError
from mlptrain.serving.export_arrays import export_arrays, npz_bytes
from mlptrain.serving.onnx_graph import build_onnx, onnx_available

# The standalone script is a real module of this package (ruff checks it), written out as is.
SCRIPT_FILE = "standalone_predict.py"


def standalone_script() -> str:
    """The text of the exported predict.py."""
    return resources.files("mlptrain.serving").joinpath(SCRIPT_FILE).read_text(encoding="utf-8")


def _prepare_out(out: Path, files: list[str], *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserInputError(f"«out» {out}: exists and is not a directory")
    taken = [name for name in files if (out / name).exists()]
    if taken and not force:
        raise UserInputError(
            f"«out» {out}: already holds {', '.join(taken)}; choose another folder or pass "
            "«force=True»"
        )
    out.mkdir(parents=True, exist_ok=True)


def export_numpy(model_path: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``weights.npz`` and ``predict.py`` into ``out``; return the paths written."""
    from mlptrain.serving.loading import load
    from mlptrain.store.atomic import atomic_write_bytes, atomic_write_text

    predictor = load(model_path)
    arrays = export_arrays(predictor)
    out = Path(out)
    _prepare_out(out, ["weights.npz", "predict.py"], force=force)
    atomic_write_bytes(out / "weights.npz", npz_bytes(arrays))
    atomic_write_text(out / "predict.py", standalone_script())
    return [out / "weights.npz", out / "predict.py"]


def export_onnx(model_path: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``model.onnx`` (raw features in; probabilities or predictions out) into ``out``."""
    if not onnx_available():
        raise UserInputError(
            "«format» onnx needs the onnx package: install mlptrain[onnx] "
            "(pip install 'mlptrain[onnx]')"
        )
    from mlptrain.serving.loading import load
    from mlptrain.store.atomic import atomic_write_bytes

    predictor = load(model_path)
    graph_model = build_onnx(predictor)
    out = Path(out)
    _prepare_out(out, ["model.onnx"], force=force)
    atomic_write_bytes(out / "model.onnx", graph_model.SerializeToString())
    return [out / "model.onnx"]
