"""Run directories: where a run is written, and which checkpoint a path means."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlptrain.errors import CheckpointError, UserInputError
from mlptrain.store.atomic import check_writable
from mlptrain.store.layout import CHECKPOINT_DIR


def default_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>/<YYYYmmdd-HHMMSS>``, with a numeric suffix if that second is taken."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = root / name / stamp
    suffix = 2
    while candidate.exists():
        candidate = root / name / f"{stamp}-{suffix}"
        suffix += 1
    return candidate


def prepare_run_dir(out: Path | None, name: str, *, overwrite: bool) -> Path:
    """Create (or check) the run directory before any training starts."""
    run_dir = Path(out) if out is not None else default_run_dir(name)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserInputError(f"«out» {run_dir}: exists and is not a directory")
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()) and not overwrite:
        raise UserInputError(
            f"run directory {run_dir} already exists and is not empty; choose another «out», "
            "or pass «overwrite=True» to replace its contents"
        )
    check_writable(run_dir)
    check_writable(run_dir / CHECKPOINT_DIR)
    return run_dir


def resolve_checkpoint(path: str | Path, kind: str = "best") -> Path:
    """A run directory means its ``checkpoints/<kind>.safetensors``; a file means itself."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / f"{kind}.safetensors"
        if not candidate.exists():
            raise CheckpointError(
                f"{path}: not a run directory (no {CHECKPOINT_DIR}/{kind}.safetensors)"
            )
        return candidate
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint file")
    return path
