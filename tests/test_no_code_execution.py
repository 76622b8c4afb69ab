"""Nothing mlptrain loads may run code: the package source never unpickles, never uses
``yaml.load`` without SafeLoader, ``np.load(allow_pickle=True)``, ``joblib.load``, ``eval`` or
``exec``. Checked on the syntax tree, so comments and strings (like this one) do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlptrain"
SOURCES = sorted(PACKAGE.rglob("*.py"))
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve"}
UNSAFE_YAML = {"yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"}
# joblib itself is fine (Parallel); its load unpickles.
BANNED_IMPORTS = {("joblib", "load")}


def _dotted(node: ast.AST | None) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _call_problem(node: ast.Call) -> str | None:
    name = _dotted(node.func)
    keywords = {k.arg: k.value for k in node.keywords}
    if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
        return f"{name}("
    if name == "joblib.load" or name.endswith(".joblib.load"):
        return "joblib.load("
    if name in UNSAFE_YAML:
        return f"{name}("
    if name in ("yaml.load", "yaml.load_all"):
        loader = keywords.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
        if _dotted(loader).split(".")[-1] not in SAFE_LOADERS:
            return f"{name}( without SafeLoader"
    allow = keywords.get("allow_pickle")
    if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
        return "allow_pickle=True (or not literally False)"
    return None


def violations(source: str, filename: str = "<src>") -> list[str]:
    """Every forbidden construct in ``source`` as ``file:line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in BANNED_MODULES:
                    found.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            for alias in node.names:
                if module in BANNED_MODULES or (module, alias.name) in BANNED_IMPORTS:
                    found.append(f"{where}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Call):
            problem = _call_problem(node)
            if problem:
                found.append(f"{where}: {problem}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_source_runs_no_code_from_files(path: Path) -> None:
    assert violations(path.read_text(), str(path)) == []


def test_scan_covers_the_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in SOURCES}
    expected = {
        "store/checkpoint.py",
        "config/loading.py",
        "data/files.py",
        "config/yamlsafe.py",
        "api.py",
    }
    assert expected <= names


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import pickle as p",
        "from pickle import loads",
        "import joblib\njoblib.load('m')",
        "from joblib import load",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)",
        "import yaml\nyaml.unsafe_load(text)",
        "eval('1 + 1')",
        "exec('x = 1')",
    ],
)
def test_scanner_catches(snippet: str) -> None:
    assert violations(snippet) != []


@pytest.mark.parametrize(
    "snippet",
    [
        "# import pickle; eval(x)",
        "'''yaml.load( and exec( in a docstring'''",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "import numpy as np\nnp.load('x.npz', allow_pickle=False)",
        "model.eval()",
        "from joblib import Parallel, delayed",
    ],
)
def test_scanner_ignores_comments_strings_and_safe_calls(snippet: str) -> None:
    assert violations(snippet) == []
