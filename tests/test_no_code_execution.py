"""Nothing mlptrain loads may run code. ruff enforces most of it in CI (pyproject.toml:
flake8-bandit S102/S301/S302/S307/S506 and banned imports of pickle, marshal, shelve, dill,
joblib.load and the unsafe yaml loaders, TID251); these tests check that the configuration
catches what it should, and check on the syntax tree the one thing ruff cannot:
``np.load(allow_pickle=...)`` with anything but a literal False."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlptrain"
SOURCES = sorted(PACKAGE.rglob("*.py"))

CAUGHT_BY_RUFF = [
    "import pickle",
    "import pickle as p",
    "from pickle import loads",
    "import marshal",
    "import shelve",
    "import dill",
    "import joblib\njoblib.load('m')",
    "from joblib import load",
    "import yaml\nyaml.load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)",
    "import yaml\nyaml.unsafe_load(text)",
    "import yaml\nyaml.full_load(text)",
    "eval('1 + 1')",
    "exec('x = 1')",
]
SAFE = [
    "# import pickle; eval(x)",
    "'''yaml.load( and exec( in a docstring'''",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "import numpy as np\nnp.load('x.npz', allow_pickle=False)",
    "model.eval()",
    "from joblib import Parallel, delayed",
]
SECURITY_CODES = ("S", "TID251")


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe is not None:
        return [exe]
    pytest.importorskip("ruff")
    return [sys.executable, "-m", "ruff"]


def _security_findings(paths: list[Path]) -> dict[str, set[str]]:
    """File name -> the security rule codes the project's ruff config reports for it."""
    result = subprocess.run(
        [*_ruff(), "check", "--config", str(ROOT / "pyproject.toml"), "--output-format",
         "json", "--exit-zero", *map(str, paths)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, set[str]] = {Path(p).name: set() for p in paths}
    for item in json.loads(result.stdout):
        code = item["code"] or ""
        if code.startswith(SECURITY_CODES):
            found.setdefault(Path(item["filename"]).name, set()).add(code)
    return found


def test_ruff_config_catches_code_execution_and_spares_safe_calls(tmp_path: Path) -> None:
    files = []
    for index, snippet in enumerate(CAUGHT_BY_RUFF + SAFE):
        path = tmp_path / f"snippet_{index}.py"
        path.write_text(snippet + "\n")
        files.append(path)
    found = _security_findings(files)
    for index, snippet in enumerate(CAUGHT_BY_RUFF):
        assert found[f"snippet_{index}.py"], f"not caught: {snippet!r}"
    for index, snippet in enumerate(SAFE, start=len(CAUGHT_BY_RUFF)):
        assert not found[f"snippet_{index}.py"], f"wrongly caught: {snippet!r}"


def test_package_passes_the_security_rules() -> None:
    found = _security_findings(SOURCES)
    assert {name: codes for name, codes in found.items() if codes} == {}


def allow_pickle_uses(source: str, filename: str = "<src>") -> list[str]:
    """Calls passing ``allow_pickle`` as anything but a literal False (ruff has no such rule)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "allow_pickle" and not (
                    isinstance(value, ast.Constant) and value.value is False
                ):
                    found.append(f"{filename}:{node.lineno}: allow_pickle not literally False")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_never_allows_pickle_in_np_load(path: Path) -> None:
    assert allow_pickle_uses(path.read_text(), str(path)) == []


def test_allow_pickle_scan_catches_and_spares() -> None:
    assert allow_pickle_uses("import numpy as np\nnp.load('x.npy', allow_pickle=True)") != []
    assert allow_pickle_uses("np.load(p, allow_pickle=flag)") != []
    assert allow_pickle_uses("np.load('x.npz', allow_pickle=False)") == []
    assert allow_pickle_uses("'''np.load(p, allow_pickle=True)'''") == []
